"""The JSON Schema of every contract, one document per event type and version plus the raw
(not enveloped) contracts: the form agencies and the hotline vendor read. The AsyncAPI document
(`asyncapi.py`) binds them to topics; `export.py` writes both."""

from __future__ import annotations

import inspect
from typing import Any

from shared.contracts.envelope import EVENT_TYPES, Envelope
from shared.contracts.events import ReferralCreated
from shared.contracts.hotline import HotlineReport
from shared.contracts.screening import ScreeningRecord

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# The messages published as they are, not enveloped: they carry personal data, intake alone reads them.
RAW_CONTRACTS: tuple[type[HotlineReport] | type[ScreeningRecord], ...] = (HotlineReport, ScreeningRecord)


def raw_schema_file(contract: type[HotlineReport] | type[ScreeningRecord]) -> str:
    return f"{contract.TOPIC}.v{contract.SCHEMA_VERSION}.json"


def _event_schema(event_type: str, version: int) -> dict[str, Any]:
    payload_type = EVENT_TYPES[(event_type, version)]
    schema = Envelope[payload_type].model_json_schema()  # type: ignore[valid-type]
    # The generic envelope only knows `event_type: str`; pin it so a reader of one file
    # sees exactly which event it describes.
    schema["properties"]["event_type"]["const"] = event_type
    schema["properties"]["schema_version"]["const"] = version
    schema["title"] = f"{event_type} v{version}"
    topic = payload_type.TOPIC + (".<agency>" if payload_type is ReferralCreated else "")
    schema["description"] = (
        f"{inspect.cleandoc(Envelope.__doc__ or '')}\n\nTopic: {topic}; Kafka key: case_id."
    )
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def json_schema_documents() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema, one per event type and version plus the raw contracts."""
    documents = {
        f"{event_type}.v{version}.json": _event_schema(event_type, version)
        for event_type, version in sorted(EVENT_TYPES)
    }
    for contract in RAW_CONTRACTS:
        schema = contract.model_json_schema()
        schema["title"] = f"{contract.TOPIC} v{contract.SCHEMA_VERSION}"
        documents[raw_schema_file(contract)] = {"$schema": JSON_SCHEMA_DIALECT, **schema}
    return documents
