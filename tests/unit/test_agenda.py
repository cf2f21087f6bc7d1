"""What a joint meeting should look at (services/audit/agenda.py): the open cases of the territory whose
referral a department declined (and nobody was asked since), whose referral waits three days past its
deadline, or that are red with no plan after fourteen days or no service delivered thirty days after
the plan — the longest waiting first, a closed case never."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.audit.agenda import agenda
from services.audit.indicators import Happening, Kind

TOWNSHIP = "140402001000"
VILLAGE = "140402001001"
ELSEWHERE = "140403001001"
T0 = datetime(2026, 11, 2, 4, 0, tzinfo=UTC)


class _Record:
    def __init__(self) -> None:
        self.made: list[Happening] = []

    def add(self, case_id, kind: Kind, at: datetime, **values) -> None:
        self.made.append(Happening(f"event:{len(self.made)}", case_id, kind, at, **values))

    def case(self, place: str = VILLAGE, grade: str = "orange", number: str | None = None) -> uuid.UUID:
        case_id = uuid.uuid4()
        self.add(case_id, Kind.reported, T0, jurisdiction=place, code="hotline", number=number)
        self.add(case_id, Kind.graded, T0 + timedelta(hours=1), code=grade)
        return case_id

    def referral(self, case_id, agency: str, at: datetime, *answers: tuple[str, datetime]) -> uuid.UUID:
        ref = uuid.uuid4()
        self.add(case_id, Kind.referred, at, agency=agency, ref=ref, due_at=at + timedelta(hours=24))
        for state, when in answers:
            self.add(case_id, Kind.referral_changed, when, code=state, agency=agency, ref=ref)
        return ref


def test_the_cases_a_joint_meeting_should_look_at_longest_waiting_first() -> None:
    record = _Record()
    declined = record.case(number="140402-2026-00001")
    record.referral(declined, "social_work", T0, ("declined", T0 + timedelta(days=2)))
    asked_again = record.case()
    record.referral(asked_again, "education", T0, ("declined", T0 + timedelta(hours=5)))
    record.referral(
        asked_again, "education", T0 + timedelta(days=1), ("acknowledged", T0 + timedelta(days=1))
    )
    late = record.case()
    record.referral(late, "police", T0)  # due a day later, unanswered
    unplanned = record.case(grade="red")
    planned = record.case(grade="red")
    record.add(planned, Kind.planned, T0 + timedelta(days=1))
    closed = record.case(grade="red")
    record.add(closed, Kind.closed, T0 + timedelta(days=3), code="moved_away")
    record.referral(record.case(place=ELSEWHERE), "police", T0)  # another township's

    at = T0 + timedelta(days=40)
    found = {p.case_id: p for p in agenda(record.made, TOWNSHIP, at)}
    assert set(found) == {declined, late, unplanned, planned}
    assert (found[declined].reasons, found[declined].agencies) == (("referral_declined",), ("social_work",))
    assert found[declined].number == "140402-2026-00001"
    assert found[late].reasons == ("referral_long_overdue",) and found[late].since == T0 + timedelta(days=1)
    assert found[unplanned].reasons == ("red_without_plan",)
    assert found[planned].reasons == ("red_without_service_delivered",)
    order = [p.case_id for p in agenda(record.made, TOWNSHIP, at)]
    assert order.index(unplanned) < order.index(late) < order.index(declined), "the longest waiting first"

    # Three days after the deadline, not before; fourteen days after the red grade, not before.
    early = {p.case_id: p.reasons for p in agenda(record.made, TOWNSHIP, T0 + timedelta(days=3, hours=23))}
    assert late not in early and unplanned not in early
    # A service delivered ends the wait for one.
    record.add(planned, Kind.service_changed, T0 + timedelta(days=35), code="delivered", ref=uuid.uuid4())
    assert planned not in {p.case_id for p in agenda(record.made, TOWNSHIP, at)}
