"""Each concept of the domain has one home that every user imports (issue 21): these tests fail when
one grows a second."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Column, MetaData, Table, Text, select
from sqlalchemy.dialects import postgresql

from shared.territory.code import in_subtree

ROOT = Path(__file__).resolve().parents[2]


def _sources(*, besides: tuple[str, ...] = ()) -> dict[str, str]:
    """The Python sources of services/ and shared/ (not their migrations), by path from the root."""
    found = {}
    for top in ("services", "shared"):
        for path in sorted((ROOT / top).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in name and name not in besides:
                found[name] = path.read_text(encoding="utf-8")
    return found


def _where(sources: dict[str, str], pattern: str) -> list[str]:
    return [name for name, text in sources.items() if re.search(pattern, text)]


# ---- the territory subtree filter -------------------------------------------------------------------

_cases = Table("cases", MetaData(), Column("jurisdiction", Text))


def _compiled(prefix: str) -> tuple[str, dict]:
    query = select(_cases.c.jurisdiction).where(in_subtree(_cases.c.jurisdiction, prefix))
    compiled = query.compile(dialect=postgresql.dialect())
    return str(compiled), compiled.params


def test_the_subtree_filter_is_a_prefix_like_that_escapes_its_wildcards() -> None:
    sql, params = _compiled("14_4%")
    assert "LIKE" in sql and "ESCAPE '/'" in sql
    assert list(params.values()) == ["14/_4/%"], "a prefix's _ and % match only themselves"
    sql, params = _compiled("1404")
    assert list(params.values()) == ["1404"]


def test_every_territory_filter_is_the_shared_one() -> None:
    sources = _sources(besides=("shared/territory/code.py",))
    # A table's columns go by one letter (`c = t.cases.c`); a str's startswith is Python, not SQL.
    assert _where(sources, r"\b[a-z]\.\w*jurisdiction\.startswith\(|autoescape\s*=\s*True") == []
    assert _where(sources, r"\.i?like\(") == []


# ---- the reason-code pattern ------------------------------------------------------------------------


def test_the_reason_code_pattern_is_written_once() -> None:
    from services.assessment.grading import REASON_CODE
    from shared.contracts.vocabulary import REASON_CODE_PATTERN, ReasonCode

    assert REASON_CODE.pattern == REASON_CODE_PATTERN
    assert ReasonCode.__metadata__[0].pattern == REASON_CODE_PATTERN
    assert _where(_sources(), re.escape("[a-z][a-z0-9_]")) == ["shared/contracts/vocabulary.py"]


# ---- the referral actions ---------------------------------------------------------------------------


def test_the_referral_lifecycle_speaks_the_contracts_actions() -> None:
    from typing import get_args

    from services.referral import lifecycle
    from shared.contracts.events import ReferralAction

    assert set(lifecycle.TARGET) == set(lifecycle.ALLOWED_FROM) == set(get_args(ReferralAction))
    assert _where(_sources(), r"Literal\[\s*\"acknowledge\"") == ["shared/contracts/events.py"]


# ---- a risk factor ----------------------------------------------------------------------------------


def test_a_grade_factor_is_the_contracts_risk_factor() -> None:
    from services.assessment import api, grading
    from shared.contracts.events import RiskFactor

    graded = grading.grade(grading.load_rules(), grading.CaseFacts(frozenset(), frozenset(), None, 2))
    assert graded.factors and all(type(f) is RiskFactor for f in graded.factors)
    assert api.GradeRecord.model_fields["factors"].annotation == list[RiskFactor]
    assert _where(_sources(), r"class \w*Factor\b") == ["shared/contracts/events.py"]


# ---- one definition per name ------------------------------------------------------------------------


def test_no_module_defines_a_name_twice() -> None:
    """A second `def` of a name silently replaces the first for every later import, while what bound
    the first before (a table of rules) keeps it: two behaviours under one name."""
    import ast
    from collections import Counter

    twice = []
    for name, text in _sources().items():
        tree = ast.parse(text)
        defined = Counter(
            node.name
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and not any(ast.unparse(d).endswith("overload") for d in node.decorator_list)
        )
        twice += [f"{name}: {n}" for n, count in defined.items() if count > 1]
    assert twice == []


def test_the_casework_escalation_rules_are_two_names() -> None:
    from services.casework import decide, escalation
    from shared.contracts.events import ReferralEscalated

    assert decide.EVENT_RULES[ReferralEscalated] is decide.referral_escalated
    assert escalation.escalated is decide.escalated is not decide.referral_escalated


# ---- the open referral states -----------------------------------------------------------------------


def test_open_referral_states_are_the_vocabularys_set() -> None:
    from services.referral import tables
    from shared.contracts.vocabulary import OPEN_REFERRAL_STATES, ReferralState

    (one_open,) = [i for i in tables.referrals.indexes if i.name == "referrals_one_open_per_agency"]
    listed = ", ".join(f"'{state}'" for state in ReferralState if state in OPEN_REFERRAL_STATES)
    assert str(one_open.dialect_options["postgresql"]["where"]) == f"state IN ({listed})"
    # Written out anywhere else, the set would not follow the vocabulary when it changes.
    assert _where(_sources(), r"'created',\s*'acknowledged'|\"created\",\s*\"acknowledged\"") == []


# ---- a case's state ---------------------------------------------------------------------------------


def test_a_cases_state_is_spoken_with_the_vocabularys_words() -> None:
    from services.casework import api as casework_api
    from services.intake import tables as intake_tables
    from shared.contracts.vocabulary import CaseStatus

    assert [state.value for state in CaseStatus] == ["open", "closed"]
    assert casework_api.Case.model_fields["state"].annotation is CaseStatus
    (one_open,) = [i for i in intake_tables.cases.indexes if i.name == "cases_one_open_per_child"]
    assert str(one_open.dialect_options["postgresql"]["where"]) == "state = 'open'", (
        "what the migration wrote"
    )
    # A state compared with, set to or declared as a written-out word (Python or SQL text).
    written = r"\bstate\b[^\n]{0,24}?[\"'](open|closed)[\"']|Literal\[\"open\""
    assert _where(_sources(), written) == []
