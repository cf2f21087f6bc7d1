"""A list's line per case: the narrative's first line cut to a list's width, the age from the birth
date (else the estimate), and nothing the reader may not see."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace

from services.intake.summaries import HEADLINE_CHARACTERS, age_on, headline_of, line_of
from shared.contracts.vocabulary import PersonalField as F

CASE = SimpleNamespace(id=uuid.uuid4(), case_number="140402-2026-00001", jurisdiction="140402001001")
CHILD = {"sex": "M", "birth_date": "2019-12-06", "age_estimate": None}
NARRATIVE = "\n  The boy next door, about seven, bruised face.\nThe mother shouts at night."


def test_the_headline_is_the_narratives_first_line_cut_to_a_lists_width() -> None:
    assert headline_of(NARRATIVE) == "The boy next door, about seven, bruised face."
    long = "隔壁的男孩" * 40
    assert len(headline_of(long)) == HEADLINE_CHARACTERS and headline_of(long).endswith("…")
    assert headline_of("") is None and headline_of(None) is None


def test_the_age_is_from_the_birth_date_else_the_estimate() -> None:
    assert age_on(CHILD, date(2026, 12, 5)) == 6, "the seventh birthday is tomorrow"
    assert age_on(CHILD, date(2026, 12, 6)) == 7
    assert age_on({"birth_date": None, "age_estimate": 7}, date(2026, 12, 5)) == 7
    assert age_on({}, date(2026, 12, 5)) is None


def test_a_line_shows_only_what_the_reader_may_see() -> None:
    received = datetime(2026, 12, 5, 8, tzinfo=UTC)
    full = line_of(CASE, CHILD, NARRATIVE, received, (F.sex, F.birth_date, F.narratives), date(2026, 12, 6))
    assert (full.sex, full.age, full.headline) == ("M", 7, "The boy next door, about seven, bruised face.")
    school_only = line_of(CASE, CHILD, NARRATIVE, received, (F.sex,), date(2026, 12, 6))
    assert (school_only.sex, school_only.age, school_only.headline) == ("M", None, None)
    assert (full.case_number, full.jurisdiction, full.received_at) == (
        CASE.case_number,
        CASE.jurisdiction,
        received,
    )
