"""Every stage's handler table, run by the one unit of work (shared/unit_of_work.py) on an in-memory
store and outbox: the topics each service consumes are its tables' (and the AsyncAPI document says
the same), each event is decided in offset order on the state the one before left, and the events
each decision emits are staged as envelopes caused by it, about its case."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from dataclasses import dataclass

import pytest

from cpnet.registry import definition_of
from services.assessment import decide as assessment_decide
from services.assessment import handlers as assessment
from services.assessment.assess import Resources as AssessmentResources
from services.audit import handlers as audit
from services.casework import decide as casework_decide
from services.casework import handlers as casework
from services.casework.cases import Resources as CaseworkResources
from services.followup import decide as followup_decide
from services.followup import handlers as followup
from services.followup.visits import Resources as FollowupResources
from services.intake import handlers as intake
from services.referral import decide as referral_decide
from services.referral import handlers as referral
from services.referral.decide import CaseReferrals
from services.referral.refer import Resources as ReferralResources
from shared.contracts.asyncapi import consumers
from shared.contracts.envelope import Envelope, new_envelope
from shared.contracts.events import EventPayload
from shared.contracts.vocabulary import ReferralState, RiskLevel
from shared.messaging.consumer import Delivery
from shared.territory.transfers import TRANSFERS
from shared.unit_of_work import Decision, Handlers, InMemoryOutbox, InMemoryStore, Stage, UnexpectedEvent
from tests.unit import test_assessment_decide as a
from tests.unit import test_casework_decide as c
from tests.unit import test_followup_decide as f
from tests.unit import test_referral_decide as r

# Every consumer of a service that runs a table; TRANSFERS is every stage's territory follower.
TABLES = {
    "assessment": (assessment.REPORTS, assessment.REASSESSMENTS, TRANSFERS),
    "referral": (referral.GRADES, referral.ANSWERS, referral.CLOSURES, TRANSFERS),
    "followup": (followup.GRADES, followup.REFERRALS, followup.CLOSURES, TRANSFERS),
    "casework": (casework.HANDLERS,),
    "intake": (intake.REPORTS, intake.SCREENINGS, intake.CLOSURES, intake.REFERRALS, TRANSFERS),
    "audit": (audit.LEDGER,),
}


@pytest.mark.parametrize("service", sorted(TABLES))
def test_the_topics_a_service_consumes_are_its_tables_and_the_asyncapi_document_says_so(service: str) -> None:
    topics = {topic for table in TABLES[service] for topic in table.topics}
    assert topics == set(consumers()[service])


@pytest.mark.parametrize("service", sorted(TABLES))
def test_each_service_is_defined_by_its_consumers_handler_tables(service: str) -> None:
    """The definition declares its consumer groups (no closures that build consumers): each one's
    stage runs one of the tables above, every table has its group, and the topics the running
    service subscribes to are the tables'."""
    definition = definition_of(service)
    tables = [entry.stage(lambda: None).handlers for entry in definition.consumes]
    assert sorted(map(id, tables)) == sorted(map(id, TABLES[service]))
    assert len({entry.group for entry in definition.consumes}) == len(definition.consumes)
    assert definition.topics == set(consumers()[service])


# The id of the envelope each payload travelled in (a grade names the event that caused it).
EVENT_IDS: dict[int, uuid.UUID] = {}


def _delivered(payloads: list[EventPayload], case_id: uuid.UUID) -> list[tuple[Envelope, Delivery]]:
    items = []
    for offset, payload in enumerate(payloads):
        envelope = new_envelope(payload, case_id=case_id, producer="test", occurred_at=c.NOW)
        EVENT_IDS[id(payload)] = envelope.event_id
        items.append((envelope, Delivery(payload.TOPIC, 0, offset, None, {})))
    return items


@dataclass
class Case:
    """A table, a store and resources, and the same events folded by hand with decide."""

    handlers: Handlers
    store: InMemoryStore
    resources: object
    fold: object  # (payloads) -> (final state, emitted payloads)


async def _run(case: Case, payloads: list[EventPayload], case_id: uuid.UUID):
    outbox = InMemoryOutbox()
    stage = Stage(
        producer="test",
        handlers=case.handlers,
        store=case.store,
        outbox=outbox,
        resources=lambda: case.resources,
        clock=lambda _: c.NOW,
    )
    items = _delivered(payloads, case_id)
    await stage(None, items)
    return items, outbox


class Ids:
    """Ids as a decision mints them, the same sequence each time: 1, 2, 3…"""

    def __init__(self) -> None:
        self.count = itertools.count(1)

    def __call__(self) -> uuid.UUID:
        return uuid.UUID(int=next(self.count))


def _fold(decide_one, state, payloads):
    """The events decided by hand, one after the other on the state the one before left."""
    emitted, records = [], []
    for payload in payloads:
        decision = decide_one(state, payload)
        after = getattr(decision, "state", getattr(decision, "plan", None))  # follow-up's is a plan
        state = after if after is not None else state
        emitted += list(decision.events)
        records += list(getattr(decision, "records", ()))
    return state, emitted, records


def _referral_fold(case_id):
    policy = dataclasses.replace(r.POLICY, new_id=Ids())
    return lambda ps: _fold(
        lambda s, p: referral_decide.route(s, p, policy, c.NOW), CaseReferrals(case_id), ps
    )


def _followup_fold(ps):
    ids = Ids()
    return _fold(lambda s, p: followup_decide.scheduled(s, p, f.POLICY, c.NOW, new_id=ids), None, ps)


def _assessment_fold(ps, case_id):
    ids = Ids()

    def one(state, report):
        merged = assessment_decide.with_report(state, report)
        graded = assessment_decide.regraded(
            merged, a.RULES, now=c.NOW, cause="report", caused_by=str(EVENT_IDS[id(report)]), new_id=ids
        )
        return Decision(graded.state, (graded.event,), (graded.assessment,))

    return _fold(one, None, ps)


def _casework_fold(ps):
    state, emitted = c.run(ps)
    return state, emitted, []


def _cases():
    yield (
        "casework",
        Case(
            casework.HANDLERS,
            InMemoryStore(new=lambda cid: casework_decide.CaseState(None)),
            CaseworkResources(policy=c.POLICY, territory=None, clock=lambda: c.NOW),
            _casework_fold,
        ),
        [c.report(), c.grade(), c.referral(), c.acknowledged(), c.visit(c.NOW)],
        c.CASE,
    )
    rid = uuid.uuid4()
    yield (
        "referral",
        Case(
            referral.GRADES,
            InMemoryStore(new=CaseReferrals),
            ReferralResources(
                routes=r.ROUTES, public_url=r.POLICY.public_url, clock=lambda: c.NOW, new_id=Ids()
            ),
            _referral_fold(rid),
        ),
        [r.graded(rid, RiskLevel.red, emergency=True), r.graded(rid, RiskLevel.orange)],
        rid,
    )
    fid = uuid.uuid4()
    yield (
        "followup",
        Case(
            followup.GRADES,
            InMemoryStore(),
            FollowupResources(policy=f.POLICY, clock=lambda: c.NOW, new_id=Ids()),
            _followup_fold,
        ),
        [f.graded(fid, RiskLevel.orange), f.graded(fid, RiskLevel.red)],
        fid,
    )
    aid = uuid.uuid4()
    yield (
        "assessment",
        Case(
            assessment.REPORTS,
            InMemoryStore(),
            AssessmentResources(rules=a.RULES, clock=lambda: c.NOW, new_id=Ids()),
            lambda ps: _assessment_fold(ps, aid),
        ),
        [a.report(aid), a.report(aid, indicators=a.report(aid).indicators, earlier=1)],
        aid,
    )


@pytest.mark.parametrize(
    ("service", "case", "payloads", "case_id"), list(_cases()), ids=lambda v: str(v)[:12]
)
async def test_a_batch_is_decided_in_offset_order_and_its_events_are_staged_as_caused(
    service, case: Case, payloads, case_id
) -> None:
    items, outbox = await _run(case, payloads, case_id)
    assert outbox.envelopes, "each of these batches emits events"
    events = {envelope.event_id for envelope, _ in items}
    for envelope in outbox.envelopes:
        assert envelope.case_id == case_id
        assert envelope.producer == "test"
        assert envelope.causation_id in events
    state, emitted, records = case.fold(payloads)
    assert case.store.states[case_id] == state
    assert outbox.payloads() == emitted
    assert case.store.records == records


async def test_a_second_batch_reads_the_state_the_first_saved() -> None:
    fid = uuid.uuid4()
    res = FollowupResources(policy=f.POLICY, clock=lambda: c.NOW, new_id=Ids())
    store = InMemoryStore()
    one = Case(followup.GRADES, store, res, None)
    await _run(one, [f.graded(fid, RiskLevel.blue)], fid)
    first = store.states[fid]
    assert first.plan_id == uuid.UUID(int=1)  # the service's ids, not the decision's own
    _, outbox = await _run(one, [f.graded(fid, RiskLevel.red)], fid)
    assert store.states[fid].plan_id == first.plan_id  # the same plan, rescheduled
    assert store.states[fid].risk_level == RiskLevel.red.value
    assert outbox.payloads()


async def test_an_event_the_table_has_no_rule_for_is_refused() -> None:
    fid = uuid.uuid4()
    case = Case(followup.GRADES, InMemoryStore(), FollowupResources(policy=f.POLICY), None)
    with pytest.raises(UnexpectedEvent):
        await _run(case, [f.status(fid, uuid.uuid4(), ReferralState.acknowledged)], fid)


def test_a_table_lists_each_topic_once_in_the_order_of_its_rules() -> None:
    assert referral.CLOSURES.topics == ("case.closed", "case.reopened", "child.links")
    assert len(casework.HANDLERS.topics) == len(set(casework.HANDLERS.topics))
    assert all(t.startswith("referral.to.") for t in casework.HANDLERS.topics if t.startswith("referral.to"))
