"""Who may read which part of a case's timeline: a case that never moved is read whole by a reader
whose territory holds every step; a case that moved to another county is the new county's whole,
history included, while the county it left keeps the steps up to its leaving."""

from __future__ import annotations

from services.audit.api import Step, readable

OLD, NEW, OTHER = "140402001001", "140403100201", "140404001001"


def step(seq: int, event_type: str, at: str | None = None, **payload: str) -> Step:
    return Step(
        seq=seq,
        event_id=f"e{seq}",
        event_type=event_type,
        producer="p",
        occurred_at=at,
        caused_by=None,
        topic=event_type,
        payload=payload,
    )


def sees(prefix: str):
    return lambda jurisdiction: jurisdiction.startswith(prefix)


MOVED = [
    step(1, "case.reported", jurisdiction=OLD),
    step(2, "case.assessed", jurisdiction=OLD),
    step(3, "case.closed"),  # no territory in it: it follows the steps around it
    step(4, "case.transferred", from_jurisdiction=OLD, jurisdiction=NEW),
    step(5, "case.assigned", jurisdiction=NEW),
    step(6, "access.recorded", jurisdiction=NEW),
]


def test_a_case_that_never_moved_is_read_whole_only_within_its_territory() -> None:
    steps = MOVED[:3]
    assert readable(steps, sees("140402")) == steps
    assert readable(steps, sees("140403")) == []
    assert readable(steps, sees("")) == steps  # the province sees everything


def test_the_county_a_case_moved_to_reads_it_whole_and_the_county_it_left_up_to_its_leaving() -> None:
    assert readable(MOVED, sees("140403")) == MOVED
    assert [s.seq for s in readable(MOVED, sees("140402"))] == [1, 2, 3, 4]
    assert readable(MOVED, sees("140404")) == []
    assert readable(MOVED, sees("1404")) == MOVED  # the city holds both


def test_a_case_moved_on_again_leaves_each_county_what_it_did() -> None:
    steps = [
        *MOVED,
        step(7, "case.transferred", from_jurisdiction=NEW, jurisdiction=OTHER),
        step(8, "case.assigned", jurisdiction=OTHER),
    ]
    assert [s.seq for s in readable(steps, sees("140402"))] == [1, 2, 3, 4]
    assert [s.seq for s in readable(steps, sees("140403"))] == [1, 2, 3, 4, 5, 6, 7]
    assert readable(steps, sees("140404")) == steps


def test_the_county_left_keeps_what_happened_before_the_transfer_whatever_order_the_ledger_got_it_in() -> (
    None
):
    steps = [
        step(1, "case.reported", "2026-12-01T08:00:00Z", jurisdiction=OLD),
        step(2, "case.transferred", "2026-12-01T09:00:00.5Z", from_jurisdiction=OLD, jurisdiction=NEW),
        step(3, "case.assigned", "2026-12-01T08:30:00Z", jurisdiction=OLD),  # reached the ledger late
        step(4, "case.assigned", "2026-12-01T09:00:01Z", jurisdiction=NEW),
    ]
    assert [s.seq for s in readable(steps, sees("140402"))] == [1, 2, 3]
