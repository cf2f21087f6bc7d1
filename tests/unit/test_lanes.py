"""What travels in the urgent lane: a report naming immediate danger (found in its bytes without
parsing, never in a narrative's words) and an event of an emergency — not every red case."""

from __future__ import annotations

import json
import random

from shared.contracts.lanes import is_urgent, names_immediate_danger
from shared.contracts.vocabulary import Indicator, RiskLevel
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


class _Event:
    def __init__(self, **fields: object) -> None:
        self.__dict__.update(fields)


def test_an_emergency_or_a_report_of_immediate_danger_is_urgent_and_a_red_grade_alone_is_not() -> None:
    assert is_urgent(_Event(emergency=True, risk_level=RiskLevel.red))
    assert is_urgent(_Event(indicators=[Indicator.immediate_danger]))
    assert not is_urgent(_Event(emergency=False, risk_level=RiskLevel.red))
    assert not is_urgent(_Event(indicators=[Indicator.left_behind]))
