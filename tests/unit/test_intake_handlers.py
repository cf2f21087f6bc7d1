"""Intake's handler tables (services/intake/handlers.py) run by the one unit of work on an in-memory
store and outbox: hotline reports and survey rows (raw, one batch-wide state whose rules find or open
each one's case), closures and reopenings, and the referrals' news. Ids and the clock come in."""

from __future__ import annotations

import dataclasses
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.intake import decide
from services.intake import handlers as intake
from services.intake.decide import (
    BATCH,
    CaseNumbers,
    CaseRecord,
    Grants,
    Intake,
    NewReport,
    NewScreening,
    OpenedCase,
    ReopenedCase,
    ReportRejected,
)
from services.intake.service import resources
from shared.contracts.envelope import new_envelope
from shared.contracts.events import (
    CaseClosed,
    CaseReopened,
    CaseReported,
    ReferralCreated,
    ReferralStatusChanged,
)
from shared.contracts.hotline import HotlineReport
from shared.contracts.screening import ScreeningRecord
from shared.contracts.vocabulary import Agency, CaseStatus, Channel, ReferralState, ReopenReason, Stage
from shared.messaging.consumer import Delivery
from shared.settings import Settings
from shared.unit_of_work import Handlers, InMemoryOutbox, InMemoryStore
from shared.unit_of_work import Stage as UnitStage
from tests.e2e.reports import hotline_report

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
KEYS = resources(Settings())


def keys():
    """Intake's resources with ids counted from 1 (child, case, report… in the order decided)."""
    counter = itertools.count(1)
    return dataclasses.replace(KEYS, clock=lambda: NOW, new_id=lambda: uuid.UUID(int=next(counter)))


def ids(*n: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=i) for i in n]


def report(**changes) -> HotlineReport:
    return HotlineReport.model_validate_json(json.dumps(hotline_report(**changes)))


def survey(categories: list[str], child: dict | None = None, external_id: str = "f00d-1") -> ScreeningRecord:
    return ScreeningRecord.model_validate_json(
        json.dumps(
            {
                "schema_version": 1,
                "external_id": external_id,
                "surveyed_at": NOW.isoformat(),
                "surveyor_ref": "surveyor-1",
                "jurisdiction": "140402001001",
                "child": child or hotline_report()["child"],
                "father": "migrant_work",
                "mother": "migrant_work",
                "caregiver": "grandparents",
                "school_status": "enrolled",
                "health": "healthy",
                "disability": "none",
                "categories": categories,
                "indicators": [],
            }
        )
    )


def delivered(items, topic: str) -> list[tuple[object, Delivery]]:
    return [(item, Delivery(topic, 0, offset, None, {})) for offset, item in enumerate(items)]


def stage(table: Handlers, store: InMemoryStore, res, outbox: InMemoryOutbox, **options) -> UnitStage:
    return UnitStage(
        producer="intake",
        handlers=table,
        store=store,
        outbox=outbox,
        resources=lambda: res,
        clock=lambda r: r.clock(),
        **options,
    )


def raw_stage(
    table: Handlers, res, outbox: InMemoryOutbox, completion=None
) -> tuple[UnitStage, InMemoryStore]:
    """As services/intake/reports.py `registry_stage`, on a store that starts empty (as the
    database would answer: nothing recorded before, no child known)."""
    store = InMemoryStore(new=lambda _: Intake(), key=lambda _: BATCH, completion=completion)
    return stage(table, store, res, outbox, key=lambda _: BATCH, cause=None), store


# ---- reports ----------------------------------------------------------------------------------


async def test_reports_about_one_child_open_one_case_and_each_is_reported_once() -> None:
    first = report()
    second = report(child=first.child.model_dump(mode="json"), external_id="HL-second")
    resent = first.model_copy()  # the same report twice in one batch: recorded once
    outbox = InMemoryOutbox()
    child, case, first_id, second_id = ids(1, 2, 3, 4)
    run, store = raw_stage(intake.REPORTS, keys(), outbox, CaseNumbers({case: "140402-2026-00001"}))
    await run(None, delivered([first, resent, second], HotlineReport.TOPIC))

    assert [e.payload for e in outbox.envelopes] == [
        CaseReported(
            case_id=case,
            report_id=report_id,
            child_ref=child,
            external_id=sent.external_id,
            channel=Channel.hotline,
            jurisdiction=sent.jurisdiction,
            age_years=decide.age_in_years(sent),
            categories=sent.categories,
            indicators=sent.indicators,
            earlier_reports=earlier,
            reported_at=sent.received_at,
            case_number="140402-2026-00001",  # reserved by the store at save: the completion's
        )
        for sent, report_id, earlier in ((first, first_id, 0), (second, second_id, 1))
    ]
    for envelope in outbox.envelopes:
        assert (envelope.case_id, envelope.producer, envelope.causation_id) == (case, "intake", None)
    state: Intake = store.states[BATCH]
    assert [(a.report_id, a.duplicate, a.earlier_reports) for a in state.answers] == [
        (first_id, False, 0),
        (first_id, True, 0),
        (second_id, False, 1),
    ]
    assert [type(r).__name__ for r in store.records] == ["NewReport", "OpenedCase", "NewReport"]
    opened = store.records[1]
    assert opened == OpenedCase(case, child, first.jurisdiction, NOW)
    assert state.registry.children[child].new and state.registry.children[child].reports == 2


async def test_a_report_its_source_sent_before_is_answered_again_and_emits_nothing() -> None:
    sent = report()
    before = decide.Recorded(*ids(7, 8, 9), 0, duplicate=True, case_number="140402-2026-00003")
    state = Intake(before={decide.report_key(decide.submission_of(sent)): before})
    outbox = InMemoryOutbox()
    store = InMemoryStore(states={BATCH: state}, key=lambda _: BATCH)
    await stage(intake.REPORTS, store, keys(), outbox, key=lambda _: BATCH, cause=None)(
        None, delivered([sent], HotlineReport.TOPIC)
    )
    assert outbox.envelopes == [] and store.records == [] and state.answers == [before]


async def test_a_report_joins_the_open_case_and_reopens_a_closed_one_with_their_numbers() -> None:
    known, closed = [report(), report()]
    res = keys()
    state = Intake()
    for sent, case_id, how in ((known, uuid.uuid4(), "open"), (closed, uuid.uuid4(), "closed")):
        subject = decide.subject_of(sent.child, sent.jurisdiction, res)
        state.registry.put(
            decide.KnownChild(
                uuid.uuid4(),
                subject.national_id_digest,
                subject.match_digest,
                subject.identity,
                sent.jurisdiction,
                open_case=case_id if how == "open" else None,
                closed_case=case_id if how == "closed" else None,
                reports=1,
            )
        )
        state.registry.case_numbers[case_id] = f"140402-2026-0000{len(state.registry.case_numbers) + 1}"
    outbox = InMemoryOutbox()
    store = InMemoryStore(states={BATCH: state}, key=lambda _: BATCH)
    again = report(child=known.child.model_dump(mode="json"))
    back = report(child=closed.child.model_dump(mode="json"))
    await stage(intake.REPORTS, store, res, outbox, key=lambda _: BATCH, cause=None)(
        None, delivered([again, back], HotlineReport.TOPIC)
    )
    numbers = [e.payload.case_number for e in outbox.envelopes]
    assert numbers == ["140402-2026-00001", "140402-2026-00002"], "numbers known: nothing to complete"
    assert [e.payload.earlier_reports for e in outbox.envelopes] == [1, 1]
    assert [type(r) for r in store.records] == [NewReport, NewReport, ReopenedCase]


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"jurisdiction": "999999999999"}, "jurisdiction"),
        ({"child": {"birth_date": "2000-01-01"}}, "18 or older"),
    ],
)
async def test_a_report_no_rule_accepts_is_refused_as_poison(changes, rule) -> None:
    outbox = InMemoryOutbox()
    run, store = raw_stage(intake.REPORTS, keys(), outbox)
    with pytest.raises(ReportRejected, match=rule):
        await run(None, delivered([report(), report(**changes)], HotlineReport.TOPIC))
    assert outbox.envelopes == [] and store.records == [], "the batch saved nothing"


async def test_submitted_reports_carry_their_requests_traces() -> None:
    from services.intake.reports import SUBMISSIONS

    outbox = InMemoryOutbox()
    run, store = raw_stage(SUBMISSIONS, keys(), outbox, CaseNumbers(dict.fromkeys(ids(2, 5), "n")))
    trace = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    submissions = [decide.Submission(report(), "u-1", "u-1"), decide.Submission(report(), "u-2", "u-2")]
    uow, states = await run.run(None, submissions, traces=[trace, {}])
    assert uow.traces == [trace, {}]
    assert [(a.child_ref, a.case_id) for a in states[BATCH].answers] == [(*ids(1, 2),), (*ids(4, 5),)]
    assert [r.submission.source for r in store.records if isinstance(r, NewReport)] == ["u-1", "u-2"]


# ---- survey rows --------------------------------------------------------------------------------


async def test_a_survey_row_registers_its_child_and_one_with_a_difficulty_is_reported() -> None:
    fine, troubled = survey([], external_id="f00d-1"), survey(["left_behind"], external_id="f00d-2")
    outbox = InMemoryOutbox()
    child, troubled_child, case, report_id = ids(1, 3, 4, 5)
    run, store = raw_stage(intake.SCREENINGS, keys(), outbox, CaseNumbers({case: "140402-2026-00009"}))
    await run(None, delivered([fine, troubled, fine], ScreeningRecord.TOPIC))  # a row twice: kept once

    (reported,) = outbox.payloads()
    assert (reported.case_id, reported.child_ref, reported.report_id) == (case, troubled_child, report_id)
    assert reported.channel == Channel.screening and reported.case_number == "140402-2026-00009"
    assert outbox.envelopes[0].causation_id is None
    screenings = [r for r in store.records if isinstance(r, NewScreening)]
    assert [(s.record.external_id, s.child_id, s.case_id, s.report_id) for s in screenings] == [
        ("f00d-1", child, None, None),
        ("f00d-2", troubled_child, case, report_id),
    ]
    assert store.states[BATCH].screened == {"f00d-1": child, "f00d-2": troubled_child}
    (new_report,) = [r for r in store.records if isinstance(r, NewReport)]
    assert new_report.submission.source == "screening"
    assert new_report.submission.recorded_by == "screening:surveyor-1"


async def test_a_survey_row_kept_before_changes_nothing() -> None:
    row = survey(["left_behind"])
    state = Intake(screened={row.external_id: uuid.uuid4()})
    outbox = InMemoryOutbox()
    store = InMemoryStore(states={BATCH: state}, key=lambda _: BATCH)
    await stage(intake.SCREENINGS, store, keys(), outbox, key=lambda _: BATCH, cause=None)(
        None, delivered([row], ScreeningRecord.TOPIC)
    )
    assert outbox.envelopes == [] and store.records == []


# ---- closures and reopenings ------------------------------------------------------------------


def enveloped(payloads, case_id: uuid.UUID):
    return [
        (new_envelope(p, case_id=case_id, producer="casework"), Delivery(p.TOPIC, 0, offset, None, {}))
        for offset, p in enumerate(payloads)
    ]


def closure(case_id: uuid.UUID, at: datetime) -> CaseClosed:
    return CaseClosed(case_id=case_id, reason="done", closed_at=at)


def reopening(case_id: uuid.UUID, at: datetime, stage: Stage = Stage.plan) -> CaseReopened:
    return CaseReopened(
        case_id=case_id,
        reason=ReopenReason.new_risk,
        reopened_by="u-1",
        risk_level=None,
        stage=stage,
        closed_at=at - timedelta(minutes=1),
        reopened_at=at,
    )


async def test_closures_and_reopenings_are_followed_in_either_order() -> None:
    case_id = uuid.uuid4()
    opened = CaseRecord(case_id, CaseStatus.open.value, "assessment", None, None)
    store = InMemoryStore(states={case_id: opened})
    outbox = InMemoryOutbox()
    t = [NOW + timedelta(hours=h) for h in range(5)]
    batch = [
        closure(case_id, t[1]),
        reopening(case_id, t[0]),  # before the closure: reopens nothing
        reopening(case_id, t[2]),  # after it: open again at the reopening's stage
        closure(case_id, t[1]),  # an earlier closure read late: the reopening came after it
        closure(case_id, t[3]),
        closure(case_id, t[2]),  # a closed case keeps its latest closure's moment
    ]
    await stage(intake.CLOSURES, store, keys(), outbox)(None, enveloped(batch, case_id))
    assert store.states[case_id] == CaseRecord(case_id, CaseStatus.closed.value, "closed", t[3], t[2])
    assert outbox.envelopes == []

    await stage(intake.CLOSURES, store, keys(), outbox)(None, enveloped([reopening(case_id, t[4])], case_id))
    assert store.states[case_id] == CaseRecord(case_id, CaseStatus.open.value, "plan", None, t[4])


async def test_a_reopening_of_an_open_case_keeps_its_stage_and_an_unknown_case_is_left_alone() -> None:
    case_id, unknown = uuid.uuid4(), uuid.uuid4()
    store = InMemoryStore(states={case_id: CaseRecord(case_id, "open", "assessment", None, None)})
    run = stage(intake.CLOSURES, store, keys(), InMemoryOutbox())
    await run(
        None, enveloped([reopening(case_id, NOW)], case_id) + enveloped([closure(unknown, NOW)], unknown)
    )
    assert store.states == {case_id: CaseRecord(case_id, "open", "assessment", None, NOW)}


# ---- referrals --------------------------------------------------------------------------------


async def test_referral_news_leaves_one_grant_a_referral_with_the_last_state() -> None:
    case_id, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def created(referral):
        return ReferralCreated.model_construct(
            referral_id=referral, case_id=case_id, agency=Agency.police, emergency=False
        )

    def changed(referral, state):
        return ReferralStatusChanged.model_construct(
            referral_id=referral, case_id=case_id, agency=Agency.police, state=state
        )

    store = InMemoryStore(new=lambda _: Grants(), key=lambda _: BATCH)
    news = [
        created(first),
        created(second),
        changed(second, ReferralState.acknowledged),
        changed(second, ReferralState.in_progress),
        created(second),  # late: changes nothing
    ]
    items = [
        (
            new_envelope(p, case_id=case_id, producer="referral"),
            Delivery("referral.status", 0, offset, None, {}),
        )
        for offset, p in enumerate(news)
    ]
    await stage(intake.REFERRALS, store, keys(), InMemoryOutbox(), key=lambda _: BATCH)(None, items)
    grants: Grants = store.states[BATCH]
    assert [(g["referral_id"], g["state"]) for g in grants.created.values()] == [(first, "created")]
    assert list(grants.changed.values()) == [
        {
            "referral_id": second,
            "case_id": case_id,
            "agency": "police",
            "state": "in_progress",
            "updated_at": NOW,
        }
    ]
