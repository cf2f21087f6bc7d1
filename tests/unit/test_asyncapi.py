"""Tests of the AsyncAPI document: it covers every topic and event of the registry, its
references resolve, personal data appears only where the registry says, its operations
agree with the Kafka ACL plan, and the exported file is up to date."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.contracts import EVENT_TYPES, TOPICS, Agency, HotlineReport, referral_topic
from shared.contracts.asyncapi import (
    ASYNCAPI_FILE,
    CONTRACTS_VERSION,
    asyncapi_document,
)
from shared.contracts.export import render, schema_documents
from shared.contracts.screening import ScreeningRecord

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = ROOT / "schemas"
DLQ_HEADERS = {
    "x-dlq-error",
    "x-dlq-original-topic",
    "x-dlq-original-partition",
    "x-dlq-original-offset",
    "x-dlq-tries",
    "x-dlq-consumer",
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return asyncapi_document()


def resolve(document: dict[str, Any], ref: str) -> Any:
    """The node a local JSON reference (`#/a/b~1c`) points at; KeyError if it points
    nowhere."""
    assert ref.startswith("#"), f"only references inside the document are expected: {ref}"
    node: Any = document
    if ref in ("#", "#/"):
        return node
    assert ref.startswith("#/"), ref
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def deref(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(document, node["$ref"])
    return node


def all_refs(node: Any, path: str = "$") -> list[tuple[str, str]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append((path, value))
            else:
                found += all_refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += all_refs(item, f"{path}[{index}]")
    return found


def personal_data_paths(document: dict[str, Any], schema: Any) -> set[str]:
    """Dotted property paths (following $ref) of every node marked x-personal-data; "$"
    for a schema marked as a whole."""
    found: set[str] = set()
    seen: set[tuple[int, str]] = set()

    def walk(node: Any, path: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, path)
            return
        if not isinstance(node, dict):
            return
        node = deref(document, node)
        if (id(node), path) in seen or not isinstance(node, dict):
            return
        seen.add((id(node), path))
        if node.get("x-personal-data"):
            found.add(path)
        for key, child in node.items():
            if key == "properties":
                for name, prop in child.items():
                    walk(prop, name if path == "$" else f"{path}.{name}")
            else:
                walk(child, path)

    walk(schema, "$")
    return found


# --- shape -------------------------------------------------------------------------------


def test_it_is_an_asyncapi_3_document(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == "cpnet events"
    assert doc["info"]["version"] == CONTRACTS_VERSION
    assert "intake.reports.raw" in doc["info"]["description"]
    assert "case_id" in doc["info"]["description"]
    server = doc["servers"]["production"]
    assert (server["host"], server["protocol"]) == ("kafka:9092", "kafka")
    assert "SASL/SCRAM" in server["description"]
    assert "deploy/kafka/README.md" in server["description"]


def test_every_topic_has_a_channel(doc: dict[str, Any]) -> None:
    addresses = {channel["address"]: channel for channel in doc["channels"].values()}
    assert set(addresses) == set(TOPICS)
    for name, topic in TOPICS.items():
        channel = addresses[name]
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions
        assert str(topic.partitions) in channel["description"]
        if not topic.dead_letter:
            assert _party_in(topic.owner, channel["description"]), name


def _party_in(owner: str, text: str) -> bool:
    return owner in text or (owner == "hotline" and "hotline vendor" in text)


def test_a_referral_channel_says_only_its_agency_reads_it(doc: dict[str, Any]) -> None:
    for agency in Agency:
        description = doc["channels"][referral_topic(agency)]["description"]
        assert f"only the {agency.value} agency reads it" in description


def test_dead_letter_channels_carry_the_original_bytes_and_the_reason(
    doc: dict[str, Any],
) -> None:
    for name, topic in TOPICS.items():
        if not topic.dead_letter:
            continue
        messages = doc["channels"][name]["messages"]
        assert len(messages) == 1, name
        message = deref(doc, next(iter(messages.values())))
        payload = deref(doc, message["payload"])
        assert (payload["type"], payload["contentEncoding"]) == ("string", "binary")
        assert "original bytes" in payload["description"]
        headers = deref(doc, message["headers"])
        assert set(headers["required"]) == DLQ_HEADERS
        assert DLQ_HEADERS <= set(headers["properties"])


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs = all_refs(doc)
    assert refs
    for path, ref in refs:
        try:
            resolve(doc, ref)
        except (KeyError, IndexError) as exc:
            pytest.fail(f"{path}: {ref} does not resolve ({exc!r})")


def test_the_resolver_notices_a_dangling_reference(doc: dict[str, Any]) -> None:
    with pytest.raises(KeyError):
        resolve(doc, "#/components/schemas/NoSuchThing")


# --- messages ----------------------------------------------------------------------------


@pytest.mark.parametrize("event_type, version", sorted(EVENT_TYPES))
def test_every_event_type_has_a_message(doc: dict[str, Any], event_type: str, version: int) -> None:
    messages = [
        deref(doc, m)
        for m in doc["components"]["messages"].values()
        if m.get("title") == f"{event_type} v{version}"
    ]
    assert len(messages) == 1, f"{event_type} v{version} has {len(messages)} messages"
    message = messages[0]
    assert message["name"] == event_type
    assert message["contentType"] == "application/json"
    payload = deref(doc, message["payload"])
    assert payload["properties"]["event_type"]["const"] == event_type
    assert payload["properties"]["schema_version"]["const"] == version
    assert "payload" in payload["required"]
    headers = deref(doc, message["headers"])
    assert {"event_id", "event_type", "schema_version", "traceparent"} <= set(headers["properties"])
    assert headers["properties"]["event_type"]["const"] == event_type
    assert message["bindings"]["kafka"]["key"]["format"] == "uuid"
    # The message travels on the channel of its topic.
    topic = EVENT_TYPES[(event_type, version)].TOPIC
    carrying = [
        name
        for name, channel in doc["channels"].items()
        if any(deref(doc, m) is message for m in channel["messages"].values())
    ]
    assert carrying and all(name.startswith(topic) for name in carrying), carrying


def _hotline_message(doc: dict[str, Any]) -> dict[str, Any]:
    (message,) = (deref(doc, m) for m in doc["channels"][HotlineReport.TOPIC]["messages"].values())
    return message


def test_the_hotline_message_is_the_vendors_contract(doc: dict[str, Any]) -> None:
    message = _hotline_message(doc)
    assert message["contentType"] == "application/json"
    assert "vendor's contract" in message["description"]
    assert message["bindings"]["kafka"]["key"]["description"].startswith("The hotline's own id")
    payload = deref(doc, message["payload"])
    assert set(payload["required"]) == {
        name for name, field in HotlineReport.model_fields.items() if field.is_required()
    }


def test_the_raw_report_marks_the_childs_personal_data(doc: dict[str, Any]) -> None:
    marked = personal_data_paths(doc, _hotline_message(doc)["payload"])
    assert {
        "child.name",
        "child.national_id",
        "child.birth_date",
        "child.address",
        "reporter.name",
        "reporter.phone",
        "narrative",
    } <= marked


def test_the_screening_record_marks_the_childs_and_familys_personal_data(doc: dict[str, Any]) -> None:
    (message,) = (deref(doc, m) for m in doc["channels"][ScreeningRecord.TOPIC]["messages"].values())
    assert message["bindings"]["kafka"]["key"]["description"].startswith("The import's id")
    payload = deref(doc, message["payload"])
    assert {"child.name", "child.national_id", "child.birth_date"} <= personal_data_paths(doc, payload)
    # An enum field's marker sits beside its $ref, which personal_data_paths follows away.
    family = ("father", "mother", "caregiver", "school_status", "health", "disability")
    assert all(payload["properties"][name].get("x-personal-data") for name in family)


def test_personal_data_appears_only_on_the_registrys_personal_data_topics(
    doc: dict[str, Any],
) -> None:
    # The raw report, the screening record and their dead-letter twins (their raw bytes)
    # carry personal data; no other message may mark any.
    personal_topics = {name for name, topic in TOPICS.items() if topic.personal_data}
    assert personal_topics == {
        "intake.reports.raw",
        "intake.reports.raw.dlq",
        "intake.screening.raw",
        "intake.screening.raw.dlq",
    }
    for name, channel in doc["channels"].items():
        for key, message in channel["messages"].items():
            message = deref(doc, message)
            marked = personal_data_paths(doc, message["payload"]) | personal_data_paths(
                doc, message.get("headers", {})
            )
            if name in personal_topics:
                assert marked, f"{name} message {key} marks no personal data"
            else:
                assert not marked, f"{name} message {key} carries personal data: {marked}"


def test_no_component_message_outside_the_personal_topics_marks_personal_data(
    doc: dict[str, Any],
) -> None:
    personal = {
        id(deref(doc, m))
        for name, topic in TOPICS.items()
        if topic.personal_data
        for m in doc["channels"][name]["messages"].values()
    }
    for key, message in doc["components"]["messages"].items():
        if id(message) not in personal:
            assert not personal_data_paths(doc, message["payload"]), key


# --- operations --------------------------------------------------------------------------


def test_every_operation_references_a_channel_and_its_messages(doc: dict[str, Any]) -> None:
    for key, operation in doc["operations"].items():
        assert operation["action"] in ("send", "receive"), key
        channel = resolve(doc, operation["channel"]["$ref"])
        assert channel in doc["channels"].values()
        assert operation["messages"], key
        for message in operation["messages"]:
            # AsyncAPI 3: an operation's messages must be messages of its channel.
            ref = message["$ref"]
            prefix = operation["channel"]["$ref"] + "/messages/"
            assert ref.startswith(prefix), f"{key}: {ref} is not a message of its channel"
            assert resolve(doc, ref) in channel["messages"].values()


def _operations(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(party, action, topic) of every operation."""
    found = set()
    for key, operation in doc["operations"].items():
        topic = resolve(doc, operation["channel"]["$ref"])["address"]
        party = key.split(f".{operation['action']}.", 1)[0]
        assert key == f"{party}.{operation['action']}.{topic}"
        found.add((party, operation["action"], topic))
    return found


def test_every_channel_has_a_sender(doc: dict[str, Any]) -> None:
    sent = {topic for _, action, topic in _operations(doc) if action == "send"}
    assert sent == set(TOPICS)


def test_the_operations_name_the_services_of_the_design(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    summaries = {op["summary"] for op in doc["operations"].values()}
    assert "hotline vendor sends to intake.reports.raw" in summaries
    assert "screening-import sends to intake.screening.raw" in summaries
    assert "referral sends to referral.to.police" in summaries
    assert "agencies send to referral.responses" in summaries
    expected_receives = {
        # Intake follows referrals to know which agency may read a child's details, and services to know
        # which provider's workers may. Every service that keeps a case's territory follows its
        # transfers; intake keeps whether a case is open (one open case per child), so it follows
        # closures and a person's reopenings.
        "intake": {
            "intake.reports.raw",
            "intake.screening.raw",
            "case.closed",
            "case.reopened",
            "referral.status",
            *map(referral_topic, Agency),
            "service.status",
            "case.transferred",
        },
        "assessment": {"case.reported", "case.reassessment_requested", "case.transferred"},
        # Referral withdraws what a closed case still holds open (a race with a late grade), and refers
        # a case again when a person reopens it or the link that merged it away is undone.
        "referral": {
            "case.assessed",
            "referral.responses",
            "case.transferred",
            "case.closed",
            "case.reopened",
            "child.links",
        },
        # Follow-up stops visiting a closed case and visits a reopened one again.
        "followup": {"case.assessed", "referral.status", "case.transferred", "case.closed", "case.reopened"},
    }
    for service, topics in expected_receives.items():
        assert {t for p, a, t in ops if p == service and a == "receive"} == topics, service
    for agency in Agency:
        party = f"agency-{agency.value}"
        assert {t for p, a, t in ops if p == party and a == "receive"} == {referral_topic(agency)}
    for name, topic in TOPICS.items():
        if not topic.dead_letter:
            assert (topic.owner, "send", name) in ops, name


def test_audit_receives_every_topic_but_the_personal_data_ones(doc: dict[str, Any]) -> None:
    received = {t for p, a, t in _operations(doc) if p == "audit" and a == "receive"}
    assert received == {name for name, topic in TOPICS.items() if not topic.personal_data}


def _acl_plan() -> Any:
    spec = importlib.util.spec_from_file_location(
        "cpnet_deploy_acl_plan_for_asyncapi", ROOT / "deploy" / "kafka" / "acl_plan.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while built
    spec.loader.exec_module(module)
    return module


def test_the_operations_match_the_kafka_acl_plan(doc: dict[str, Any]) -> None:
    """What the document says each party sends and receives is exactly what the ACL plan
    lets it write and read, so neither promises what the other forbids."""
    acl = _acl_plan()
    agencies = [acl.agency_principal(agency) for agency in Agency]

    def principals(party: str) -> list[str]:
        if party == "agencies":
            return agencies
        if party in acl.EXTERNAL_PRODUCERS:
            return [acl.EXTERNAL_PRODUCERS[party]]
        if party.startswith("agency-"):
            return [party]
        return [acl.service_principal(party)]

    documented = {
        (principal, "Write" if action == "send" else "Read", topic)
        for party, action, topic in _operations(doc)
        for principal in principals(party)
    }
    granted = {
        (grant.principal, grant.operation, grant.name)
        for grant in acl.plan()
        if grant.resource == "topic" and grant.operation in ("Read", "Write") and grant.principal != acl.ADMIN
    }
    assert documented == granted, (
        f"only in the document: {sorted(documented - granted)}; "
        f"only in the ACL plan: {sorted(granted - documented)}"
    )


# --- export ------------------------------------------------------------------------------


def test_the_document_is_deterministic() -> None:
    assert render(asyncapi_document()) == render(asyncapi_document())


def test_the_exported_document_is_up_to_date(doc: dict[str, Any]) -> None:
    assert schema_documents()[ASYNCAPI_FILE] == doc
    path = SCHEMAS_DIR / ASYNCAPI_FILE
    assert path.exists(), "run: python -m shared.contracts.export"
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == doc
    assert text == render(doc), "schemas/asyncapi.json is stale: python -m shared.contracts.export"
