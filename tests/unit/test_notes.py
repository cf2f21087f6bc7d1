"""A note's rules (shared/notes.py): optional, trimmed, at most 4,000 characters, refused naming `note`
without echoing it; sealed bound to its row and case; and the access ledger's record of a notes read
(shared/access.py), named by the child each service learns from the grade."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import MetaData

from services.assessment.decide import regraded, with_report
from services.assessment.grading import load_rules
from services.followup.decide import scheduled
from services.followup.schedule import load_policy
from services.referral.decide import CaseReferrals, route
from shared.access import OUTSIDE_TERRITORY, territorial
from shared.auth import Principal
from shared.contracts.events import PersonalDataAccessed
from shared.contracts.topics import TOPICS
from shared.contracts.vocabulary import AccessPurpose, PersonalField, PersonalRecord, RiskLevel, Role
from shared.crypto import INSECURE_DEV_ENCRYPTION_KEY, DecryptionError, FieldCipher
from shared.notes import (
    NOTE_MAX_CHARS,
    NoteText,
    notes_table,
    seal,
    texts_by_record,
    unseal,
    written,
    written_notes,
)
from tests.unit.test_assessment_decide import report
from tests.unit.test_followup_decide import graded as followup_grade
from tests.unit.test_referral_decide import POLICY as ROUTES
from tests.unit.test_referral_decide import graded as referral_grade

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CIPHER = FieldCipher({"k1": INSECURE_DEV_ENCRYPTION_KEY}, "k1")
CASE = uuid.uuid4()
TEXT = "王小明说晚上不敢回家，脸上有新伤。"


class Action(BaseModel):
    note: NoteText = None


@dataclass(frozen=True)
class Row:
    """A row as SQLAlchemy gives it: its values under `_mapping`."""

    _mapping: dict[str, Any]


def test_a_note_is_optional_trimmed_and_a_blank_one_is_none() -> None:
    assert Action().note is None
    assert Action(note=f"  \n{TEXT}\t ").note == TEXT
    assert Action(note=" \n\t ").note is None


def test_a_note_has_at_most_4000_characters_after_trimming_and_a_longer_one_is_named_never_echoed() -> None:
    longest = "好" * NOTE_MAX_CHARS
    assert Action(note=f"   {longest}   ").note == longest
    with pytest.raises(ValidationError) as refused:
        Action(note="很" * (NOTE_MAX_CHARS + 1))
    (error,) = refused.value.errors(include_input=False)
    assert error["loc"] == ("note",) and error["type"] == "string_too_long"
    assert "很" not in str(error)
    with pytest.raises(ValueError):
        written("x" * (NOTE_MAX_CHARS + 1), case_id=CASE, action="visit", by="cw-1", at=NOW)


def test_an_action_without_a_note_keeps_none() -> None:
    assert written(None, case_id=CASE, action="review", by="cw-1", at=NOW) is None


def test_a_note_is_sealed_in_its_row_and_opened_again() -> None:
    visit = uuid.uuid4()
    note = written(TEXT, case_id=CASE, action="visit", by="cw-1", at=NOW, about=visit)
    row = seal(CIPHER, note)
    assert set(row) == {column.name for column in notes_table(MetaData(schema="casework")).columns}
    assert TEXT.encode() not in row["body"] and "text" not in row
    assert (row["action"], row["about"], row["written_by"], row["written_at"]) == (
        "visit",
        visit,
        "cw-1",
        NOW,
    )
    assert unseal(CIPHER, Row(row)) == note
    assert texts_by_record(CIPHER, [Row(row)]) == {visit: TEXT}
    (shown,) = written_notes(CIPHER, [Row(row)])
    assert (shown.action, shown.about, shown.written_by, shown.text) == ("visit", visit, "cw-1", TEXT)


@pytest.mark.parametrize("moved", ["note_id", "case_id"])
def test_a_sealed_note_moved_to_another_row_or_case_does_not_open(moved: str) -> None:
    row = seal(CIPHER, written(TEXT, case_id=CASE, action="review", by="cw-1", at=NOW))
    with pytest.raises(DecryptionError) as refused:
        unseal(CIPHER, Row({**row, moved: uuid.uuid4()}))
    assert TEXT not in str(refused.value)


def test_two_notes_of_the_same_words_are_sealed_differently() -> None:
    first, second = (
        seal(CIPHER, written(TEXT, case_id=CASE, action="review", by="cw-1", at=NOW)) for _ in range(2)
    )
    assert first["body"] != second["body"]


# ---- the access ledger's record of a notes read --------------------------------------------------


def test_a_notes_read_outside_the_readers_territory_is_refused() -> None:
    here = Principal(subject="cw-1", role=Role.caseworker, jurisdiction="140402")
    child = uuid.uuid4()
    assert territorial(here, CASE, child, "140402001001").refusal is None
    elsewhere = territorial(here, CASE, child, "140403100201")
    assert (elsewhere.refusal, elsewhere.child_ref, elsewhere.jurisdiction) == (
        OUTSIDE_TERRITORY,
        child,
        "140403100201",
    )


def test_a_notes_read_is_an_access_record_of_the_case_notes_naming_the_child_when_known() -> None:
    fields = {
        "access_id": uuid.uuid4(),
        "case_id": CASE,
        "record": PersonalRecord.case_notes,
        "action": "read",
        "purpose": AccessPurpose.case_planning,
        "accessor_ref": "cw-1",
        "accessor_role": Role.caseworker,
        "jurisdiction": "140402001001",
        "accessed_at": NOW,
    }
    read = PersonalDataAccessed(
        child_ref=uuid.uuid4(), outcome="shown", fields=[PersonalField.notes], **fields
    )
    assert read.fields == [PersonalField.notes]
    # A case graded before contracts 1.8 is named by its case alone until its next grade names the child.
    assert PersonalDataAccessed(outcome="shown", fields=[PersonalField.notes], **fields).child_ref is None


def test_every_service_that_keeps_notes_writes_the_access_ledger() -> None:
    assert set(TOPICS[PersonalDataAccessed.TOPIC].writers) == {
        "intake",
        "assessment",
        "casework",
        "followup",
        "referral",
    }


def test_each_service_learns_the_cases_child_from_its_report_or_grade_and_keeps_it() -> None:
    first = regraded(with_report(None, report(CASE)), load_rules(), now=NOW, cause="report", caused_by="e-1")
    assert first.event.child_ref == first.state.child_ref is not None
    later_report = report(CASE, earlier=1)
    later = regraded(
        with_report(first.state, later_report), load_rules(), now=NOW, cause="report", caused_by="e-2"
    )
    assert later.event.child_ref == later_report.child_ref, "the latest report names the child"

    child = first.event.child_ref
    named = referral_grade(CASE, RiskLevel.red).model_copy(update={"child_ref": child})
    routed = route(CaseReferrals(CASE), named, ROUTES, NOW).state
    assert routed.case.child_ref == child
    assert route(routed, referral_grade(CASE, RiskLevel.red), ROUTES, NOW).state.case.child_ref == child, (
        "a grade published before contracts 1.8 names no child: the one known stays"
    )

    plan = scheduled(None, followup_grade(CASE, RiskLevel.red), load_policy(), NOW).plan
    assert plan.child_ref is None
    same_grade = followup_grade(CASE, RiskLevel.red, due=plan.response_due_at)
    same_grade = same_grade.model_copy(update={"child_ref": child})
    assert scheduled(plan, same_grade, load_policy(), NOW).plan.child_ref == child, (
        "a grade that changes no visit still names the child"
    )
