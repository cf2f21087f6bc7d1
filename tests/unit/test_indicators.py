"""What the record counts (services/audit/indicators.py): which events make which happenings, and how
a bulletin's figures count them — the period in China Standard Time, the moment counted, the node's
children, the period before, and counts of 1–4 children printed "<5"."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.audit.indicators import (
    COUNTED,
    TOTAL,
    Cell,
    Happening,
    Kind,
    Period,
    figures,
    figures_as_dict,
    figures_from_dict,
    happenings_of,
)
from shared.contracts.envelope import new_envelope
from shared.contracts.events import CaseAssessed, CaseAssigned, CaseReported, ServiceChanged
from shared.contracts.vocabulary import Stage
from tests.unit.test_contracts import sample

TOWNSHIP = "140402001000"
EAST, WEST = "140402001001", "140402001002"  # two villages of it
ELSEWHERE = "140403001001"
NOVEMBER = Period(2026, 11)
# 2026-11-10 12:00 in Beijing.
MID = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)


def _event(payload):
    return new_envelope(payload, case_id=payload.case_id, producer="test")


@pytest.mark.parametrize("payload_type", list(COUNTED.values()), ids=lambda t: t.EVENT_TYPE)
def test_every_counted_event_makes_a_happening_of_codes(payload_type) -> None:
    event = _event(sample(payload_type))
    made = happenings_of("event:1", event)
    assert made and all(h.case_id == event.case_id and h.event_key == "event:1" for h in made)


def test_an_event_no_figure_counts_makes_nothing() -> None:
    assert happenings_of("event:1", _event(sample(CaseAssigned))) == []


def test_a_grading_at_the_plan_is_a_grade_and_a_plan() -> None:
    planned = sample(CaseAssessed).model_copy(update={"stage": Stage.plan})
    assert [h.kind for h in happenings_of("e", _event(planned))] == [Kind.graded, Kind.planned]
    visited = sample(CaseAssessed).model_copy(update={"stage": Stage.needs_assessment})
    assert [h.kind for h in happenings_of("e", _event(visited))] == [Kind.graded, Kind.needs_assessed]


def test_a_report_keeps_its_channel_age_and_categories_and_a_service_its_due_day_in_beijing() -> None:
    (report,) = happenings_of("e", _event(sample(CaseReported)))
    payload = sample(CaseReported)
    assert (report.code, report.age, report.jurisdiction) == (
        payload.channel,
        payload.age_years,
        payload.jurisdiction,
    )
    (service,) = happenings_of("e", _event(sample(ServiceChanged)))
    due_on = sample(ServiceChanged).due_on
    # Due "on" a day: overdue from the midnight after it, China Standard Time (16:00 UTC that day).
    assert service.due_at == datetime(due_on.year, due_on.month, due_on.day, 16, 0, tzinfo=UTC)


def test_a_period_is_a_month_in_china_standard_time() -> None:
    assert NOVEMBER.start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert NOVEMBER.end == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert Period.parse("2026-01").before() == Period(2025, 12)
    assert Period(2026, 12).following() == Period(2027, 1)
    for bad in ("2026-13", "November", "2026"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Period.parse(bad)


def test_counts_of_one_to_four_are_printed_under_five_and_a_median_of_few_cases_not_at_all() -> None:
    assert [Cell(n).shown(suppress=True) for n in (0, 1, 4, 5)] == ["0", "<5", "<5", "5"]
    assert Cell(3).shown(suppress=False) == "3"
    assert Cell(2.5, cases=4).shown(suppress=True) == "–"
    assert Cell(2.5, cases=5).shown(suppress=True) == "2.5"
    assert Cell(None, cases=0).shown(suppress=True) == "–"


class _Cases:
    """Happenings made by hand, a case at a time."""

    def __init__(self) -> None:
        self.made: list[Happening] = []

    def add(self, case_id: uuid.UUID, kind: Kind, at: datetime, **values) -> Happening:
        h = Happening(event_key=f"event:{len(self.made)}", case_id=case_id, kind=kind, at=at, **values)
        self.made.append(h)
        return h

    def report(self, at: datetime, place: str = EAST, channel: str = "hotline", child=None, age=8, **values):
        case_id = uuid.uuid4()
        self.add(
            case_id,
            Kind.reported,
            at,
            jurisdiction=place,
            code=channel,
            child_ref=child or uuid.uuid4(),
            age=age,
            categories=("abuse",),
            **values,
        )
        return case_id


def _count(found, key: str, row: str, column: str):
    return found.table(key).cell(row, column).value


def test_a_bulletin_counts_the_period_by_place_and_beside_it_the_period_before() -> None:
    cases = _Cases()
    for hour in range(6):
        case = cases.report(MID + timedelta(hours=hour))
        cases.add(case, Kind.graded, MID + timedelta(hours=hour + 2), code="red", jurisdiction=EAST)
    cases.report(MID, place=WEST, channel="school", age=16)
    cases.report(MID - timedelta(days=30), place=WEST)  # October
    cases.report(MID, place=ELSEWHERE)  # another township's
    cases.report(NOVEMBER.end + timedelta(hours=1))  # December
    found = figures(cases.made, TOWNSHIP, (EAST, WEST), NOVEMBER, datetime(2027, 1, 1, tzinfo=UTC))

    assert found.as_of == NOVEMBER.end
    assert _count(found, "reports_by_channel", "hotline", EAST) == 6
    assert _count(found, "reports_by_channel", "school", WEST) == 1
    assert _count(found, "reports_by_channel", "hotline", TOTAL) == 6
    assert _count(found, "reports_by_channel", "hotline", "previous") == 1
    assert _count(found, "new_cases_by_grade", "red", TOTAL) == 6
    assert _count(found, "new_cases_by_grade", "not_graded", WEST) == 1
    assert _count(found, "new_cases_by_age", "15-17", WEST) == 1
    assert _count(found, "new_cases_by_category", "abuse", TOTAL) == 7
    graded = found.table("response_hours").cell("graded", TOTAL)
    assert (graded.value, graded.cases) == (2.0, 6)
    assert found.table("reports_by_channel").cell("school", WEST).shown(suppress=True) == "<5"


def test_while_the_period_runs_it_counts_up_to_the_moment_asked() -> None:
    cases = _Cases()
    cases.report(MID)
    cases.report(MID + timedelta(days=1))
    found = figures(cases.made, TOWNSHIP, (EAST,), NOVEMBER, MID + timedelta(hours=1))
    assert found.as_of == MID + timedelta(hours=1)
    assert _count(found, "reports_by_channel", "hotline", TOTAL) == 1


def test_a_case_moved_away_counts_where_it_is_now() -> None:
    cases = _Cases()
    moved = cases.report(MID)
    cases.add(moved, Kind.transferred, MID + timedelta(days=1), jurisdiction=WEST)
    cases.add(moved, Kind.closed, MID + timedelta(days=2), code="risk_resolved")
    found = figures(cases.made, TOWNSHIP, (EAST, WEST), NOVEMBER, NOVEMBER.end)
    # The report was received in the east village; the case and its closure are the west's now.
    assert _count(found, "reports_by_channel", "hotline", EAST) == 1
    assert _count(found, "new_cases_by_grade", "not_graded", WEST) == 1
    assert _count(found, "closures_by_reason", "risk_resolved", WEST) == 1
    assert _count(found, "closures_by_reason", "risk_resolved", EAST) == 0


def test_a_child_reported_again_within_ninety_days_counts_once_for_each_repeat() -> None:
    cases = _Cases()
    child, other = uuid.uuid4(), uuid.uuid4()
    cases.report(MID - timedelta(days=30), child=child)
    cases.report(MID, child=child)  # again after 30 days
    cases.report(MID - timedelta(days=100), child=other)
    cases.report(MID, child=other)  # after 100 days: not "again"
    found = figures(cases.made, TOWNSHIP, (EAST,), NOVEMBER, NOVEMBER.end)
    assert _count(found, "reported_again", "reports", TOTAL) == 2
    assert _count(found, "reported_again", "reported_again_90_days", TOTAL) == 1


def test_what_waits_past_its_deadline_at_the_period_end_and_each_department_answering() -> None:
    cases = _Cases()
    case = cases.report(MID)
    late, answered, declined = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for ref in (late, answered, declined):
        cases.add(
            case,
            Kind.referred,
            MID,
            agency="police",
            ref=ref,
            emergency=True,
            due_at=MID + timedelta(hours=1),
        )
    cases.add(
        case,
        Kind.referral_changed,
        MID + timedelta(minutes=30),
        code="acknowledged",
        agency="police",
        ref=answered,
    )
    cases.add(
        case,
        Kind.referral_changed,
        MID + timedelta(minutes=20),
        code="declined",
        agency="police",
        ref=declined,
    )
    service = uuid.uuid4()
    cases.add(case, Kind.service_changed, MID, code="planned", ref=service, due_at=MID + timedelta(days=2))
    found = figures(cases.made, TOWNSHIP, (EAST,), NOVEMBER, NOVEMBER.end)
    assert _count(found, "overdue_at_end", "referrals", TOTAL) == 1
    assert _count(found, "overdue_at_end", "services", TOTAL) == 1
    police = {
        m: found.table("departments").cell("police", m).value for m in found.table("departments").columns
    }
    assert police == {
        "received": 3,
        "acknowledged_in_time": 1,
        "declined": 1,
        "done": 0,
        "median_hours_to_acknowledge": 0.4,
        "action_items": 0,
        "action_items_done_in_time": 0,
    }
    # Two action items for education from a joint meeting: one done by its day, one done late.
    on_time, late = uuid.uuid4(), uuid.uuid4()
    for item, done_after in ((on_time, timedelta(days=1)), (late, timedelta(days=4))):
        due = MID + timedelta(days=2)
        cases.add(case, Kind.action_item, MID, code="open", agency="education", ref=item, due_at=due)
        cases.add(
            case, Kind.action_item, MID + done_after, code="done", agency="education", ref=item, due_at=due
        )
    education = figures(cases.made, TOWNSHIP, (EAST,), NOVEMBER, NOVEMBER.end).table("departments")
    assert [
        education.cell("education", m).value
        for m in ("received", "action_items", "action_items_done_in_time")
    ] == [0, 2, 1]
    # The emergency's wait for the police: the first answer that is not a refusal counts just the same.
    assert found.table("response_hours").cell("police_acknowledged", TOTAL).cases == 2
    # Delivered before the period's end, the service waits no more.
    cases.add(case, Kind.service_changed, MID + timedelta(days=1), code="delivered", ref=service)
    again = figures(cases.made, TOWNSHIP, (EAST,), NOVEMBER, NOVEMBER.end)
    assert _count(again, "overdue_at_end", "services", TOTAL) == 0
    assert again.table("response_hours").cell("service_delivered", TOTAL).value == 24.0


def test_figures_travel_as_json_unchanged() -> None:
    cases = _Cases()
    case = cases.report(MID)
    cases.add(case, Kind.graded, MID + timedelta(hours=1), code="red", jurisdiction=EAST)
    found = figures(cases.made, TOWNSHIP, (EAST, WEST), NOVEMBER, NOVEMBER.end)
    assert figures_from_dict(json.loads(json.dumps(figures_as_dict(found)))) == found


def test_two_reports_of_one_child_at_one_moment_are_a_first_and_a_repeat() -> None:
    cases = _Cases()
    child = uuid.uuid4()
    cases.report(MID, child=child)
    cases.report(MID, child=child)
    found = figures(cases.made, TOWNSHIP, (EAST,), NOVEMBER, NOVEMBER.end)
    assert _count(found, "reported_again", "reported_again_90_days", TOTAL) == 1


def test_what_an_open_cases_record_lacks_is_counted_and_scored() -> None:
    cases = _Cases()
    start = NOVEMBER.start + timedelta(days=1)
    late = cases.report(start)  # red, no home visit within 72 hours
    cases.add(late, Kind.graded, start, code="red", jurisdiction=EAST)
    visited = cases.report(start)  # red, visited on the second day
    cases.add(visited, Kind.graded, start, code="red", jurisdiction=EAST)
    cases.add(visited, Kind.needs_assessed, start + timedelta(days=2), jurisdiction=EAST)
    cases.report(start, age=None)  # never graded, and no age
    closed = cases.report(start)  # closed: nothing to put right any more
    cases.add(closed, Kind.closed, start + timedelta(days=1), code="risk_resolved")
    for _ in range(2):
        fine = cases.report(start)
        cases.add(fine, Kind.graded, start, code="blue", jurisdiction=EAST)
    found = figures(cases.made, TOWNSHIP, (EAST,), NOVEMBER, NOVEMBER.end).table("data_quality")
    counts = {row: found.cell(row, TOTAL).value for row in found.rows}
    assert counts == {
        "red_without_home_visit_72h": 1,
        "not_graded_after_24h": 1,
        "no_age": 1,
        "open_cases": 5,
        "quality_score": 60.0,
    }
    # Within the first 24 hours a report waits for its grade: not yet a problem.
    early = figures(cases.made, TOWNSHIP, (EAST,), NOVEMBER, start + timedelta(hours=23))
    assert early.table("data_quality").cell("not_graded_after_24h", TOTAL).value == 0
