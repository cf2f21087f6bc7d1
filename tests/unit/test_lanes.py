"""What travels in the urgent lane: a report naming immediate danger, found in its bytes without
parsing, never in a narrative's words."""

from __future__ import annotations

import json
import random

from shared.contracts.lanes import names_immediate_danger
from shared.sample_reports import realistic_reports


def test_a_report_naming_immediate_danger_is_told_by_its_bytes_and_a_narrative_cannot_spell_it() -> None:
    reports = realistic_reports(
        200, places=["140402001001"], run="lanes", rng=random.Random(3), danger_share=0.3
    )
    assert {names_immediate_danger(r.message()[1]) for r in reports} == {True, False}
    assert all(names_immediate_danger(r.message()[1]) == r.immediate_danger for r in reports)
    calm = next(r for r in reports if not r.immediate_danger)
    body = {**calm.body, "narrative": 'the caller said "immediate_danger" twice'}
    assert not names_immediate_danger(json.dumps(body, ensure_ascii=False).encode())
