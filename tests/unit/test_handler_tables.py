"""Every stage's handler table, run by the one unit of work (shared/unit_of_work.py) on an in-memory
store and outbox: the topics each service consumes are its tables' (and the AsyncAPI document says
the same), each event is decided in offset order on the state the one before left, and the events
each decision emits are staged as envelopes caused by it, about its case."""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass

import pytest

from services.assessment import handlers as assessment
from services.assessment.assess import Resources as AssessmentResources
from services.audit import handlers as audit
from services.casework import decide as casework_decide
from services.casework import handlers as casework
from services.casework.cases import Resources as CaseworkResources
from services.followup import decide as followup_decide
from services.followup import handlers as followup
from services.followup.visits import Resources as FollowupResources
from services.referral import handlers as referral
from services.referral.decide import CaseReferrals
from services.referral.refer import Resources as ReferralResources
from shared.contracts.asyncapi import consumers
from shared.contracts.envelope import Envelope, new_envelope
from shared.contracts.events import EventPayload
from shared.contracts.vocabulary import ReferralState, RiskLevel
from shared.messaging.consumer import Delivery
from shared.territory.transfers import TRANSFERS
from shared.unit_of_work import Handlers, InMemoryOutbox, InMemoryStore, Stage, UnexpectedEvent
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
    "audit": (audit.LEDGER,),
}


@pytest.mark.parametrize("service", sorted(TABLES))
def test_the_topics_a_service_consumes_are_its_tables_and_the_asyncapi_document_says_so(service: str) -> None:
    topics = {topic for table in TABLES[service] for topic in table.topics}
    assert topics == set(consumers()[service])


def _delivered(payloads: list[EventPayload], case_id: uuid.UUID) -> list[tuple[Envelope, Delivery]]:
    return [
        (
            new_envelope(p, case_id=case_id, producer="test", occurred_at=c.NOW),
            Delivery(p.TOPIC, 0, offset, None, {}),
        )
        for offset, p in enumerate(payloads)
    ]


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


def _shape(value, case_id: uuid.UUID):
    """A value as plain data, every id but the case's replaced by the same mark."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    elif hasattr(value, "model_dump"):
        value = {"type": type(value).__name__, **value.model_dump()}
    if isinstance(value, dict):
        return {k: _shape(v, case_id) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_shape(v, case_id) for v in value]
    if isinstance(value, uuid.UUID) and value != case_id:
        return "<id>"
    if isinstance(value, str):  # an address naming a referral
        return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", value)
    return value


def _fold(decide_one, state, payloads):
    emitted = []
    for payload in payloads:
        decision = decide_one(state, payload)
        state = decision[0] if decision[0] is not None else state
        emitted += list(decision[1])
    return state, emitted


def _cases():
    case_id = c.CASE
    cw_res = CaseworkResources(policy=c.POLICY, territory=None, clock=lambda: c.NOW)
    yield (
        "casework",
        Case(
            casework.HANDLERS,
            InMemoryStore(new=lambda cid: casework_decide.CaseState(None)),
            cw_res,
            c.run,
        ),
        [c.report(), c.grade(), c.referral(), c.acknowledged(), c.visit(c.NOW)],
        case_id,
    )
    rid = uuid.uuid4()
    ref_res = ReferralResources(routes=r.ROUTES, public_url=r.POLICY.public_url, clock=lambda: c.NOW)
    yield (
        "referral",
        Case(
            referral.GRADES,
            InMemoryStore(new=CaseReferrals),
            ref_res,
            lambda ps: _fold(
                lambda s, p: (lambda d: (d.state, d.events))(referral_decide_route(s, p)),
                CaseReferrals(rid),
                ps,
            ),
        ),
        [r.graded(rid, RiskLevel.red, emergency=True), r.graded(rid, RiskLevel.orange)],
        rid,
    )
    fid = uuid.uuid4()
    fu_res = FollowupResources(policy=f.POLICY, clock=lambda: c.NOW)
    yield (
        "followup",
        Case(
            followup.GRADES,
            InMemoryStore(),
            fu_res,
            lambda ps: _fold(
                lambda s, p: (lambda d: (d.plan, d.events))(followup_decide.decide(s, p, f.POLICY, c.NOW)),
                None,
                ps,
            ),
        ),
        [f.graded(fid, RiskLevel.orange), f.graded(fid, RiskLevel.red)],
        fid,
    )
    aid = uuid.uuid4()
    yield (
        "assessment",
        Case(
            assessment.REPORTS, InMemoryStore(), AssessmentResources(rules=a.RULES, clock=lambda: c.NOW), None
        ),
        [a.report(aid), a.report(aid, indicators=a.report(aid).indicators, earlier=1)],
        aid,
    )


def referral_decide_route(state, payload):
    from services.referral import decide

    return decide.route(state, payload, r.POLICY, c.NOW)


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
    if case.fold is not None:
        # Decisions mint ids of their own (a referral's, a plan's): compared without them.
        state, emitted = case.fold(payloads)
        assert _shape(case.store.states[case_id], case_id) == _shape(state, case_id)
        assert _shape(outbox.payloads(), case_id) == _shape(emitted, case_id)
    else:  # assessment's grades carry fresh ids: one grade, one history row, in order
        assert len(outbox.envelopes) == len(case.store.records) == len(payloads)
        assert [row["case_id"] for row in case.store.records] == [case_id] * len(payloads)


async def test_a_second_batch_reads_the_state_the_first_saved() -> None:
    fid = uuid.uuid4()
    res = FollowupResources(policy=f.POLICY, clock=lambda: c.NOW)
    store = InMemoryStore()
    one = Case(followup.GRADES, store, res, None)
    await _run(one, [f.graded(fid, RiskLevel.blue)], fid)
    first = store.states[fid]
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
