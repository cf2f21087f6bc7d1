"""Loading versioned YAML configuration (rule sets, routing tables, policies) into strict
models, with one-line errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a weight given twice is a mistake to report."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
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
