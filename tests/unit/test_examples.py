"""The README's example reports stay valid against the published hotline contract."""

from pathlib import Path

import pytest

from shared.contracts.hotline import HotlineReport

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "docs" / "examples").glob("*-report.json"))


def test_the_examples_exist() -> None:
    assert {p.name for p in EXAMPLES} >= {"hotline-report.json", "school-report.json"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_is_a_valid_report(path: Path) -> None:
    HotlineReport.model_validate_json(path.read_text())
