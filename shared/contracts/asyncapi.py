"""The AsyncAPI 3.0.0 document of the cpnet event bus: the public contract for the hotline
vendor and the agencies (DESIGN.md §3), generated from the topic registry and the payload
models. `python -m shared.contracts.export` writes it as `schemas/asyncapi.json`."""

from __future__ import annotations

import inspect
from typing import Any

from shared.contracts.envelope import EVENT_TYPES, ContractError
from shared.contracts.hotline import HotlineReport
from shared.contracts.json_schemas import RAW_CONTRACTS, json_schema_documents, raw_schema_file
from shared.contracts.screening import ScreeningRecord
from shared.contracts.topics import TOPICS, Topic, dlq_topic, referral_topic
from shared.contracts.vocabulary import Agency

ASYNCAPI_VERSION = "3.0.0"
CONTRACTS_VERSION = "1.14.0"
"""Version of the published contract as a whole; raise it with any change to the document."""

ASYNCAPI_FILE = "asyncapi.json"
KAFKA_BINDING_VERSION = "0.5.0"
SERVER = "production"
SECURITY_SCHEME = "saslScram"
DEAD_LETTER = "dead_letter"
DEAD_LETTER_PERSONAL = "dead_letter.personal_data"

# What each cpnet service consumes (DESIGN.md §2); deploy/kafka/acl_plan.py grants exactly
# these reads. Intake follows the referrals to learn which agency may read which child's details.
SERVICE_CONSUMES: dict[str, tuple[str, ...]] = {
    "intake": (
        "intake.reports.raw",
        "intake.screening.raw",
        "case.closed",
        "case.reopened",
        "referral.status",
        *(referral_topic(a) for a in Agency),
        "service.status",
        "case.transferred",
    ),
    "assessment": ("case.reported", "case.reassessment_requested", "case.transferred"),
    "referral": (
        "case.assessed",
        "referral.responses",
        "case.transferred",
        "case.closed",
        "case.reopened",
        "child.links",
    ),
    "followup": ("case.assessed", "referral.status", "case.transferred", "case.closed", "case.reopened"),
    "casework": (
        "case.reported",
        "case.assessed",
        *(referral_topic(a) for a in Agency),
        "referral.status",
        "referral.escalated",
        "service.status",
        "service.escalated",
        "followup.scheduled",
        "followup.visits",
        "followup.closure",
        "child.links",
    ),
}
AUDIT = "audit"

# How the document names the registry's owners that are not cpnet services.
_PARTY_NAMES = {"hotline": "hotline vendor", "agencies": "agencies"}

_TRACEPARENT_PATTERN = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
_DEFS_PREFIX = "#/$defs/"
_SCHEMAS_PREFIX = "#/components/schemas/"


def consumers() -> dict[str, tuple[str, ...]]:
    """Service → the topics it reads. Audit reads every topic except those carrying
    personal data: its ledger records what happened to a case, not who the child is."""
    audited = tuple(sorted(name for name, topic in TOPICS.items() if not topic.personal_data))
    return {**SERVICE_CONSUMES, AUDIT: audited}


def _agency_of(topic: str) -> Agency | None:
    """The agency whose referral topic this is, if it is one."""
    return next((agency for agency in Agency if referral_topic(agency) == topic), None)


def _doc(obj: object) -> str:
    return inspect.cleandoc(obj.__doc__ or "")


def _summary(obj: object) -> str:
    """The first sentence of a docstring."""
    return " ".join(_doc(obj).split("\n\n")[0].split()).split(". ")[0].rstrip(".") + "."


# --- schemas -----------------------------------------------------------------------------


def _rewrite_refs(node: Any) -> Any:
    """A copy of a JSON Schema with its `#/$defs/X` references pointing at components."""
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref":
            if not (isinstance(value, str) and value.startswith(_DEFS_PREFIX)):
                raise ContractError(f"unexpected reference {value!r} in a contract schema")
            out[key] = _SCHEMAS_PREFIX + value[len(_DEFS_PREFIX) :]
        else:
            out[key] = _rewrite_refs(value)
    return out


def _hoist(schema: dict[str, Any], shared: dict[str, Any], origin: str) -> dict[str, Any]:
    """Move a schema's `$defs` into `shared` (components.schemas) and return the rest,
    without `$schema` (a message payload is an AsyncAPI schema)."""
    body = {k: v for k, v in schema.items() if k not in ("$defs", "$schema")}
    for name, definition in schema.get("$defs", {}).items():
        definition = _rewrite_refs(definition)
        if shared.setdefault(name, definition) != definition:
            raise ContractError(
                f"two contracts define {name!r} differently (seen again in {origin}); "
                "give one of the models its own name"
            )
    return _rewrite_refs(body)


# --- messages ----------------------------------------------------------------------------


def _message_key(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _event_headers(event_type: str, version: int) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Kafka headers the outbox relay sets; all values are UTF-8 strings.",
        "properties": {
            "event_id": _string("The envelope's event_id", format="uuid"),
            "event_type": _string("The envelope's event_type", const=event_type),
            "schema_version": _string("The envelope's schema_version, in decimal", const=str(version)),
            "traceparent": _string(
                "W3C trace context of the operation that produced the event, if traced",
                pattern=_TRACEPARENT_PATTERN,
            ),
        },
        "required": ["event_id", "event_type", "schema_version"],
    }


def _kafka_key(schema: dict[str, Any]) -> dict[str, Any]:
    return {"kafka": {"bindingVersion": KAFKA_BINDING_VERSION, "key": schema}}


def _event_message(event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    payload_type = EVENT_TYPES[(event_type, version)]
    return {
        "name": event_type,
        "title": f"{event_type} v{version}",
        "summary": _summary(payload_type),
        "description": (
            f"{_doc(payload_type)}\n\nEnveloped (see the payload schema); Kafka key: case_id. "
            "Carries no personal data."
        ),
        "contentType": "application/json",
        "headers": _event_headers(event_type, version),
        "payload": payload,
        "bindings": _kafka_key({"type": "string", "format": "uuid", "description": "The envelope's case_id"}),
    }


def _hotline_message(payload: dict[str, Any]) -> dict[str, Any]:
    external_id = dict(payload["properties"]["external_id"])
    return {
        "name": HotlineReport.EVENT_TYPE,
        "title": f"{HotlineReport.TOPIC} v{HotlineReport.SCHEMA_VERSION}",
        "summary": "A report taken by the hotline: the hotline vendor's contract.",
        "description": (
            f"{_doc(HotlineReport)}\n\nThis is the hotline vendor's contract: the vendor "
            f"publishes one JSON object per report on {HotlineReport.TOPIC}, not enveloped, "
            "with external_id as the Kafka key. It carries personal data: every field marked "
            "x-personal-data. Only intake reads it; intake keeps those fields encrypted "
            "and puts none of them on any other topic."
        ),
        "contentType": "application/json",
        "payload": payload,
        "bindings": _kafka_key(external_id),
    }


def _screening_message(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": ScreeningRecord.EVENT_TYPE,
        "title": f"{ScreeningRecord.TOPIC} v{ScreeningRecord.SCHEMA_VERSION}",
        "summary": "One child's row of a screening survey, as `cpnet import screening` sends it.",
        "description": (
            f"{_doc(ScreeningRecord)}\n\nPublished by the screening import (principal "
            f"screening-import), one JSON object per surveyed child on {ScreeningRecord.TOPIC}, "
            "not enveloped, with external_id as the Kafka key. It carries personal data: every "
            "field marked x-personal-data. Only intake reads it, in a consumer of its own so a "
            "county's survey never delays a live report."
        ),
        "contentType": "application/json",
        "payload": payload,
        "bindings": _kafka_key(dict(payload["properties"]["external_id"])),
    }


def _dead_letter_message(*, personal_data: bool) -> dict[str, Any]:
    payload = {
        "type": "string",
        "contentEncoding": "binary",
        "description": "The original bytes, exactly as read from the origin topic",
    }
    if personal_data:
        payload["description"] += " (a raw hotline report or screening record: personal data)"
        payload["x-personal-data"] = True
    headers = {
        "type": "object",
        "description": (
            "The original message's headers (without any earlier x-dlq-* headers) plus "
            "these; all values are UTF-8 strings."
        ),
        "properties": {
            "x-dlq-error": _string(
                "Why the consumer gave up: the error type and, for a validation error, the "
                "field and rule only, never the message's values"
            ),
            "x-dlq-original-topic": _string("The topic the message was read from"),
            "x-dlq-original-partition": _string("Its partition, in decimal", pattern="^[0-9]+$"),
            "x-dlq-original-offset": _string("Its offset, in decimal", pattern="^[0-9]+$"),
            "x-dlq-tries": _string("How many times the consumer tried it, in decimal", pattern="^[0-9]+$"),
            "x-dlq-consumer": _string("The name of the consumer that gave up"),
        },
        "required": [
            "x-dlq-consumer",
            "x-dlq-error",
            "x-dlq-original-offset",
            "x-dlq-original-partition",
            "x-dlq-original-topic",
            "x-dlq-tries",
        ],
        "additionalProperties": {"type": "string"},
    }
    return {
        "name": DEAD_LETTER,
        "title": "Dead letter" + (" (personal data)" if personal_data else ""),
        "summary": "A message a consumer could not process, parked for replay by hand.",
        "payload": payload,
        "headers": headers,
        "bindings": _kafka_key({"type": "string", "description": "The original message's key, unchanged"}),
    }


def _messages(schemas: dict[str, Any]) -> dict[str, dict[str, Any]]:
    documents = json_schema_documents()
    messages = {}
    for event_type, version in sorted(EVENT_TYPES):
        file_name = f"{event_type}.v{version}.json"
        payload = _hoist(documents[file_name], schemas, file_name)
        messages[_message_key(event_type, version)] = _event_message(event_type, version, payload)
    raw_messages = {HotlineReport: _hotline_message, ScreeningRecord: _screening_message}
    for contract in RAW_CONTRACTS:
        file_name = raw_schema_file(contract)
        payload = _hoist(documents[file_name], schemas, file_name)
        messages[_message_key(contract.EVENT_TYPE, contract.SCHEMA_VERSION)] = raw_messages[contract](payload)
    messages[DEAD_LETTER] = _dead_letter_message(personal_data=False)
    messages[DEAD_LETTER_PERSONAL] = _dead_letter_message(personal_data=True)
    return messages


def _topic_messages(topic: Topic) -> list[str]:
    """Keys in components.messages of what travels on a topic."""
    if topic.dead_letter:
        return [DEAD_LETTER_PERSONAL if topic.personal_data else DEAD_LETTER]
    keys = []
    for event_type in topic.event_types:
        keys += [
            _message_key(event_type, contract.SCHEMA_VERSION)
            for contract in RAW_CONTRACTS
            if contract.EVENT_TYPE == event_type
        ]
        versions = sorted(v for t, v in EVENT_TYPES if t == event_type)
        keys += [_message_key(event_type, version) for version in versions]
    if not keys:
        raise ContractError(f"no contract describes what travels on {topic.name}")
    return keys


# --- channels and operations -------------------------------------------------------------


def _party(owner: str) -> str:
    return _PARTY_NAMES.get(owner, owner)


def _sends(party: str) -> str:
    return "send" if party == "agencies" else "sends"


def _origin(topic: Topic) -> Topic:
    return next(t for t in TOPICS.values() if not t.dead_letter and dlq_topic(t.name) == topic.name)


def _channel(topic: Topic) -> dict[str, Any]:
    partitions = f"{topic.partitions} partition{'s' if topic.partitions != 1 else ''}"
    if topic.dead_letter:
        origin = _origin(topic)
        description = (
            f"Dead-letter topic of {origin.name}. Owner: any consumer of {origin.name} — a "
            "consumer that gives up on a message publishes its original bytes here, with "
            f"the reason in x-dlq-* headers, before moving on. {partitions}; Kafka key: the "
            "original message's key. Replayed by hand."
        )
    else:
        # The raw topics (the personal-data ones) carry their sender's id; events carry cases.
        key = "external_id" if topic.personal_data else "case_id"
        description = f"Owner: {_party(topic.owner)}. {partitions}; Kafka key: {key}."
        if topic.also_written_by:
            description += f" Also written by: {', '.join(topic.also_written_by)}."
        agency = _agency_of(topic.name)
        if agency is not None:
            description += (
                f" Referrals to {agency.value} agencies: only the {agency.value} agency "
                f"reads it (principal agency-{agency.value}, consumer group "
                f"agency.{agency.value}); no other agency may."
            )
    if topic.personal_data:
        description += " Carries personal data; only intake reads it."
    else:
        description += " Carries no personal data."
    return {
        "address": topic.name,
        "title": topic.name,
        "description": description,
        "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in _topic_messages(topic)},
        "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING_VERSION, "partitions": topic.partitions}},
    }


def _operation(action: str, party: str, topic: str, summary: str) -> tuple[str, dict[str, Any]]:
    channel = TOPICS[topic]
    return f"{party}.{action}.{topic}", {
        "action": action,
        "channel": {"$ref": f"#/channels/{topic}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{topic}/messages/{key}"} for key in _topic_messages(channel)],
    }


def _operations() -> dict[str, dict[str, Any]]:
    reads = consumers()
    readers: dict[str, list[str]] = {name: [] for name in TOPICS}
    for service, topics in reads.items():
        for name in topics:
            readers[name].append(service)
    for agency in Agency:
        readers[referral_topic(agency)].append(f"agency-{agency.value}")

    operations: dict[str, dict[str, Any]] = {}

    def add(action: str, party: str, topic: str, summary: str) -> None:
        key, operation = _operation(action, party, topic, summary)
        operations[key] = operation

    for name, topic in sorted(TOPICS.items()):
        if topic.dead_letter:
            # Every cpnet service that reads the origin may dead-letter its messages
            # (agencies have no grant to write dead-letter topics).
            origin = _origin(topic).name
            for service in sorted(s for s in readers[origin] if s in reads):
                add("send", service, name, f"{service} sends to {name} what it cannot process")
        else:
            for writer in topic.writers:
                party = _party(writer)
                add("send", writer, name, f"{party} {_sends(party)} to {name}")
        for reader in sorted(readers[name]):
            add("receive", reader, name, f"{reader} receives {name}")
    return operations


# --- the document ------------------------------------------------------------------------


def _info() -> dict[str, Any]:
    personal = ", ".join(sorted(n for n, t in TOPICS.items() if t.personal_data))
    return {
        "title": "cpnet events",
        "version": CONTRACTS_VERSION,
        "description": (
            "The events of the Child Protection Network (cpnet) on Kafka: the public "
            "contract for the hotline vendor and the agencies.\n\n"
            f"No topic other than {personal} carries personal data. Every other message is "
            "an event in the one cpnet envelope, keyed by case_id so one case's events stay "
            "in order, and carries only pseudonymous ids, jurisdiction codes, ages in years, "
            "typed values, counts and timestamps. An agency that needs a child's details "
            "fetches them over HTTP with its own credentials (the referral's details_url). "
            "The raw hotline report and the screening record are keyed by external_id.\n\n"
            "Every topic has a dead-letter twin, <topic>.dlq, holding the original bytes of "
            "messages a consumer could not process."
        ),
    }


def _servers() -> dict[str, Any]:
    return {
        SERVER: {
            "host": "kafka:9092",
            "protocol": "kafka",
            "description": (
                "The cpnet Kafka cluster. Production uses SASL/SCRAM (SCRAM-SHA-512) over "
                "TLS with per-agency ACLs: each agency reads only its own referral.to.<agency> "
                "topic and writes only referral.responses; the hotline vendor writes only "
                "intake.reports.raw, the screening import only intake.screening.raw. "
                "See deploy/kafka/README.md."
            ),
            "security": [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}],
        }
    }


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of every topic, operation and message. Deterministic:
    rendering it with sorted keys gives the same text for the same contracts."""
    schemas: dict[str, Any] = {}
    messages = _messages(schemas)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(),
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": {name: _channel(topic) for name, topic in sorted(TOPICS.items())},
        "operations": _operations(),
        "components": {
            "messages": messages,
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "scramSha512",
                    "description": (
                        "SASL/SCRAM-SHA-512 over TLS, one principal per service, per agency "
                        "kind and for the hotline vendor; see deploy/kafka/README.md."
                    ),
                }
            },
        },
    }
