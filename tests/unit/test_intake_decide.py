"""Intake's pure decisions (services/intake/decide.py): which child a report is about, what it
adds to the identity, which case it joins, and what a batch holding one child twice decides."""

from __future__ import annotations

import uuid

from services.intake.decide import KnownChild, Registry, Subject, numbered, place


def subject(nid: str | None = None, match: str | None = None, **identity) -> Subject:
    return Subject(
        identity={"name": None, "national_id": None, "sex": "F", **identity},
        national_id_digest=nid,
        match_digest=match,
        jurisdiction="140402001001",
    )


def known(**fields) -> KnownChild:
    values = {
        "id": uuid.uuid4(),
        "national_id_digest": None,
        "match_digest": None,
        "identity": {"sex": "F"},
        "jurisdiction": "140402001001",
    }
    return KnownChild(**{**values, **fields})


def test_a_new_child_is_registered_and_a_case_opened() -> None:
    registry = Registry()
    placed = place(registry, subject(nid="n1"), opens_case=True)
    child = registry.children[placed.child_id]
    assert child.new and placed.case == "opened" and placed.earlier_reports == 0
    assert child.open_case == placed.case_id


def test_two_reports_about_one_new_child_in_one_batch_share_child_and_case() -> None:
    registry = Registry()
    first = place(registry, subject(nid="n1", name="Wang"), opens_case=True)
    second = place(registry, subject(nid="n1", school="No. 1"), opens_case=True)
    assert (second.child_id, second.case_id, second.case) == (first.child_id, first.case_id, "joined")
    assert second.earlier_reports == 1
    child = registry.children[first.child_id]
    assert child.new and not child.changed, "a child registered by the batch is inserted, not updated"
    assert child.identity["name"] == "Wang" and child.identity["school"] == "No. 1"


def test_known_identity_values_are_kept_and_missing_ones_completed() -> None:
    registry = Registry()
    registry.put(known(national_id_digest="n1", identity={"name": "Wang", "sex": "F", "school": None}))
    placed = place(registry, subject(nid="n1", match="m1", name="Wong", school="No. 1"), opens_case=False)
    child = registry.children[placed.child_id]
    assert child.changed and child.identity["name"] == "Wang" and child.identity["school"] == "No. 1"
    assert child.match_digest == "m1"
    assert placed.case_id is None and placed.case is None


def test_nothing_new_changes_nothing() -> None:
    registry = Registry()
    child = known(national_id_digest="n1", identity={"name": "Wang", "national_id": None, "sex": "F"})
    registry.put(child)
    place(registry, subject(nid="n1", name="Wang"), opens_case=False)
    assert not registry.children[child.id].changed


def test_name_birthday_and_place_match_unless_the_national_ids_differ() -> None:
    registry = Registry()
    other = known(national_id_digest="n-other", match_digest="m1")
    same = known(match_digest="m1")
    registry.put(other)
    registry.put(same)
    assert place(registry, subject(nid="n1", match="m1"), opens_case=False).child_id == same.id
    assert place(registry, subject(match="m1"), opens_case=False).child_id == other.id, (
        "first registered wins"
    )
    fresh = Registry()
    fresh.put(other)
    assert place(fresh, subject(nid="n2", match="m1"), opens_case=False).child_id != other.id


def test_a_report_reopens_the_last_closed_case_and_later_ones_join_it() -> None:
    registry = Registry()
    closed = uuid.uuid4()
    registry.put(known(national_id_digest="n1", closed_case=closed, reports=3))
    first = place(registry, subject(nid="n1"), opens_case=True)
    second = place(registry, subject(nid="n1"), opens_case=True)
    assert (first.case_id, first.case, first.earlier_reports) == (closed, "reopened", 3)
    assert (second.case_id, second.case, second.earlier_reports) == (closed, "joined", 4)


def test_a_survey_row_without_difficulty_registers_but_opens_nothing_and_counts_no_report() -> None:
    registry = Registry()
    fine = place(registry, subject(nid="n1"), opens_case=False)
    report = place(registry, subject(nid="n1"), opens_case=True)
    assert fine.case_id is None and report.child_id == fine.child_id
    assert (report.case, report.earlier_reports) == ("opened", 0)


def test_every_report_of_a_case_carries_its_number_the_new_case_s_once_reserved() -> None:
    registry = Registry()
    known_case = uuid.uuid4()
    registry.put(known(national_id_digest="n1", open_case=known_case))
    registry.case_numbers[known_case] = "140402-2025-00042"
    joined = place(registry, subject(nid="n1"), opens_case=True)
    opened = place(registry, subject(nid="n2"), opens_case=True)
    again = place(registry, subject(nid="n2"), opens_case=True)
    surveyed = place(registry, subject(nid="n3"), opens_case=False)
    assert (joined.case_number, opened.case_number) == (None, None), "numbers are the shell's to give"

    numbers = {**registry.case_numbers, opened.case_id: "140402-2026-00007"}
    assert [p.case_number for p in numbered([joined, opened, again, surveyed], numbers)] == [
        "140402-2025-00042",
        "140402-2026-00007",
        "140402-2026-00007",
        None,
    ]


def test_a_reopened_case_keeps_its_number() -> None:
    registry = Registry()
    closed = uuid.uuid4()
    registry.put(known(national_id_digest="n1", closed_case=closed))
    registry.case_numbers[closed] = "140402-2024-00003"
    (reopened,) = numbered([place(registry, subject(nid="n1"), opens_case=True)], registry.case_numbers)
    assert (reopened.case, reopened.case_id) == ("reopened", closed)
    assert reopened.case_number == "140402-2024-00003"


def test_a_child_nobody_can_name_is_never_matched_another_report_opens_another_provisional_child() -> None:
    registry = Registry()
    unnamed = Subject(
        identity={"sex": "M", "age_estimate": 7, "appearance": "bruised face"},
        national_id_digest=None,
        match_digest=None,
        jurisdiction="140402001001",
        provisional=True,
    )
    first = place(registry, unnamed, opens_case=True)
    second = place(registry, unnamed, opens_case=True)
    assert first.child_id != second.child_id and first.case_id != second.case_id
    assert {registry.children[p.child_id].provisional for p in (first, second)} == {True}
    assert (first.case, second.case) == ("opened", "opened")


def test_a_provisional_child_is_never_found_even_with_a_digest() -> None:
    registry = Registry()
    registry.put(known(national_id_digest="n1", provisional=True))
    assert registry.find(subject(nid="n1")) is None, "only a person links a provisional child"
