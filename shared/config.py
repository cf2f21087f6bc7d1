"""Loading versioned YAML configuration (rule sets, routing tables, policies) into strict
models, with one-line errors that name the file and the field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, StringConstraints, ValidationError

from shared.contracts.vocabulary import RiskLevel
from shared.territory.code import PREFIX_PATTERN

ModelT = TypeVar("ModelT", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a weight given twice is a mistake to report."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def describe(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error["loc"] if part != "[key]"]
    if error["type"] == "enum" and "[key]" in error["loc"]:
        message = "unknown name, not in the vocabulary"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return f"{'.'.join(loc)}: {message}" if loc else message


def load_yaml_config(path: Path, model: type[ModelT], error: type[ValueError]) -> ModelT:
    """Read `path` and validate it as `model`; any problem raises `error` in one line."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise error(f"{path}: not valid YAML{line}: {problem}") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        # One line: a multi-line message would be split up by log shippers.
        message = " ".join(describe(errors[0]).split())
        raise error(f"{path}: {message}{more}") from None


# ---- values that a territory may set for itself ---------------------------------------------

TerritoryPrefix = Annotated[str, StringConstraints(pattern=PREFIX_PATTERN)]
"""A node of the territory tree, as the code prefix of its subtree: province 2, city 4,
county 6, township 9, village 12 digits."""

K = TypeVar("K")
V = TypeVar("V")


def for_territory(
    base: Mapping[K, V], overrides: Mapping[str, Mapping[K, V]], jurisdiction: str
) -> dict[K, V]:
    """`base`, changed by the override of every node above `jurisdiction` (and of the node
    itself), the wider first: a county's setting beats its city's, which beats the default."""
    merged = dict(base)
    for prefix in sorted((p for p in overrides if jurisdiction.startswith(p)), key=len):
        merged.update(overrides[prefix])
    return merged


def every_grade_graver_first(
    by_grade: Mapping[RiskLevel, int],
    by_territory: Mapping[str, Mapping[RiskLevel, int]],
    *,
    missing: str,
    message: str,
) -> None:
    """A setting by grade (a deadline, a cadence): every grade has one (else ValueError naming the
    grades without, after `missing`), and red <= orange <= blue by default and in every territory
    that sets its own (else ValueError(message))."""
    absent = sorted(set(RiskLevel) - set(by_grade))
    if absent:
        raise ValueError(f"{missing} for {', '.join(absent)}")
    graver_grade_first(by_grade, by_territory, message)


def graver_grade_first(
    by_grade: Mapping[RiskLevel, int], by_territory: Mapping[str, Mapping[RiskLevel, int]], message: str
) -> None:
    """Deadlines or intervals by grade: red <= orange <= blue, by default and in every
    territory that sets its own (else ValueError(message), naming the territory)."""

    def ordered(values: Mapping[RiskLevel, int]) -> None:
        if not values[RiskLevel.red] <= values[RiskLevel.orange] <= values[RiskLevel.blue]:
            raise ValueError(message)

    ordered(by_grade)
    check_every_territory(by_grade, by_territory, ordered)


def check_every_territory(
    base: Mapping[K, V], overrides: Mapping[str, Mapping[K, V]], check: Callable[[dict[K, V]], None]
) -> None:
    """Run `check` on the values in force in every overriding territory; its ValueError names
    the territory."""
    for prefix in overrides:
        try:
            check(for_territory(base, overrides, prefix))
        except ValueError as exc:
            raise ValueError(f"in territory {prefix}: {exc}") from None
