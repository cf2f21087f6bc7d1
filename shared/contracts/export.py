"""Exports every contract as a JSON Schema file, the form agencies and the hotline vendor
read, and the AsyncAPI document binding them to topics (`asyncapi.json`). Run
`python -m shared.contracts.export [DIR]` (default `schemas/`) after any change."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.contracts.asyncapi import ASYNCAPI_FILE, asyncapi_document
from shared.contracts.json_schemas import json_schema_documents


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name → document: the JSON Schemas plus the AsyncAPI document."""
    return {**json_schema_documents(), ASYNCAPI_FILE: asyncapi_document()}


def render(schema: dict[str, Any]) -> str:
    """The exact text a schema file holds."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_schemas(directory: Path) -> list[Path]:
    """Write every schema document into `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, schema in schema_documents().items():
        path = directory / file_name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    for path in export_schemas(Path(args[0] if args else "schemas")):
        print(path)


if __name__ == "__main__":
    main()
