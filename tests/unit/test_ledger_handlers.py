"""The ledger's handler table run by the one unit of work on an in-memory store and outbox: every
message of an audited topic makes one entry, whatever it carries (an envelope of any type, bytes
that are no envelope, a dead letter), nothing is emitted, and the entries chained from them are
the very entries — fields, records, hashes — the ledger made before it had a table."""

from __future__ import annotations

import json
import uuid

import pytest
from aiokafka import ConsumerRecord

from services.audit import handlers as audit
from services.audit.chain import GENESIS, append, entry_hash
from services.audit.decide import Message, read
from services.audit.ledger import LedgerEnd, LedgerStore, new_entries
from shared.contracts.events import (
    CaseAssessed,
    CaseClosed,
    CaseReported,
    ChildLinked,
    FollowupDue,
    PersonalDataAccessed,
    ReferralCreated,
    ReferralWithdrawn,
)
from shared.contracts.hotline import HotlineReport
from shared.contracts.screening import ScreeningRecord
from shared.messaging.consumer import Delivery
from shared.unit_of_work import InMemoryOutbox, InMemoryStore, Stage, UnexpectedEvent

CASE = "0b7c6a70-3b0a-4f43-9a56-1c1d8b0f7a11"
E1, E2, E3, E4 = (f"5f0c1f4e-8d2a-4c1e-9b7a-0e6f3c2d1a0{n}" for n in range(1, 5))
TRACE = (("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),)


def _record(topic, value, *, partition=0, offset=0, ts=1764583200000, headers=()) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=ts,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value or b""),
        headers=headers,
    )


def _envelope(event_type: str, event_id: str, case_id: str | None = CASE) -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": "2026-12-01T10:00:00Z",
            "case_id": case_id,
            "causation_id": None,
            "correlation_id": event_id,
            "producer": "intake",
            "payload": {"a": "é", "n": 1.5},
        }
    ).encode()


def _records() -> list[ConsumerRecord]:
    dead = (
        ("event_id", E2.encode()),
        ("x-dlq-error", b"ValidationError: payload: x"),
        ("x-dlq-tries", b"1"),
        ("x-dlq-consumer", b"assessment.reported"),
        ("x-dlq-original-topic", b"case.assessed"),
        ("x-dlq-original-partition", b"2"),
        ("x-dlq-original-offset", b"17"),
        *TRACE,
    )
    return [
        _record(
            "case.reported",
            _envelope("case.reported", E1),
            partition=1,
            offset=10,
            headers=(("event_id", E1.encode()), ("event_type", b"case.reported"), *TRACE),
        ),
        _record("referral.to.police", _envelope("referral.withdrawn", E2), offset=3),
        _record("case.assessed.dlq", _envelope("case.assessed", E2), headers=dead),
        _record("case.closed", b"{not json", partition=2, offset=5),
        _record("followup.due", b"[1, 2]", offset=6),
        _record("case.reported", _envelope("foo.bar", E3), partition=1, offset=11),
        _record("case.reported", _envelope("case.reported", E4, case_id=None), partition=1, offset=12),
        _record("case.transferred", b"", offset=7),
        _record("child.links.dlq", b"\xff\xfe", offset=1, headers=(("x-dlq-error", b"\xff bad"),)),
        _record("case.reported", _envelope("case.reported", E1), partition=1, offset=13),  # a repeat
        _record("case.escalated", None, offset=9, ts=None),
    ]


# What the ledger made of these records before its consumer ran a handler table (seq, key, type,
# hash of the entry chained from the genesis): the table must change none of it.
BEFORE = [
    (1, f"event:{E1}", "case.reported", "c1db13cb3ebcaa0c453cacdc75d84f5417a6767e67457f78a807af9087a4763b"),
    (
        2,
        f"event:{E2}",
        "referral.withdrawn",
        "d0fa96d34a1ada62a275e55a9b52e8c13cc0cbf1ea9bbe58102a0fefb7495c80",
    ),
    (
        3,
        "message:case.assessed.dlq:0:0",
        "case.assessed",
        "34cd9110c85c2d2a41e922edf308245fc92d62260fa197acef3ab004274da0e1",
    ),
    (
        4,
        "message:case.closed:2:5",
        "unknown",
        "3c7f05e42129ce7ccd290e2813bafc6bdebd5316d3a6688a66cb358a712c48d0",
    ),
    (
        5,
        "message:followup.due:0:6",
        "unknown",
        "c38cb4011a1417d8124db53cc198fa50cf4fcb3330f8ae12f5d5f31179a4eab8",
    ),
    (6, f"event:{E3}", "foo.bar", "83de1089a171c663389a1293ecfb6178a6f2dae692dc90aaf7c85cbeb5a9c571"),
    (7, f"event:{E4}", "case.reported", "6aefee582cabc763624251f8c8cf9070e7b40c09f65d55f6a7b7cc5278d5f3ed"),
    (
        8,
        "message:case.transferred:0:7",
        "unknown",
        "e7f4cd3a36c8e8d657ad9b60ba23b108db557e9883f4fb7f58df762fb8ea5d2c",
    ),
    (
        9,
        "message:child.links.dlq:0:1",
        "dead_letter",
        "e32d3b5b3a64d092c4fc1f0702937460388a1d2f20357e5d5d41b8703b592adf",
    ),
    (
        10,
        "message:case.escalated:0:9",
        "unknown",
        "3c1a113295957d5cccaa1076b73ba006b7f192a2cef5e37faefb21512d374c0f",
    ),
]


def _legacy(messages: list[Message]) -> list[tuple[Message, str]]:
    """The messages' records chained as the one chain of before the ledger had chains (hex hashes),
    a repeated event once."""
    entry, chained, seen = None, [], set()
    for message in messages:
        if message.event_key in seen:
            continue
        seen.add(message.event_key)
        entry = append(entry, message.record, parsed=True)
        chained.append((message, entry.hash.hex()))
    return chained


def _items(records: list[ConsumerRecord]) -> list[tuple]:
    return [(read(record), Delivery.of(record)) for record in records]


async def _run(items, store=None) -> tuple[InMemoryStore, InMemoryOutbox]:
    store = store if store is not None else InMemoryStore()
    outbox = InMemoryOutbox()
    await Stage(
        producer=audit.PRODUCER,
        handlers=audit.LEDGER,
        store=store,
        outbox=outbox,
        resources=lambda: None,
        clock=lambda _: None,
        spans=False,
    )(None, items)
    return store, outbox


async def test_every_message_makes_one_entry_and_the_chain_is_the_one_made_before_the_table() -> None:
    store, outbox = await _run(_items(_records()))

    assert outbox.envelopes == [] and store.states == {}, "the ledger keeps no case's state, emits nothing"
    assert len(store.records) == len(_records()) and all(isinstance(m, Message) for m in store.records)
    # The records are byte for byte those of before: chained as the one chain of before, the same hashes.
    assert [(n, m.event_key, m.event_type, h) for n, (m, h) in enumerate(_legacy(store.records), 1)] == BEFORE
    # Each is chained in its topic and partition's chain, from its first entry on.
    last, rows = new_entries({}, store.records, set())
    chains: dict[str, list[dict]] = {}
    for row in rows:
        chains.setdefault(row["chain"], []).append(row)
        assert row["chain"] == f"{row['topic']}/{row['partition']}"
    for chain, written in chains.items():
        assert [r["position"] for r in written] == list(range(1, len(written) + 1))
        assert [r["prev_hash"] for r in written] == [GENESIS] + [r["hash"] for r in written[:-1]]
        for r in written:
            assert entry_hash(r["position"], json.loads(r["canonical"]), r["prev_hash"], chain) == r["hash"]
        assert last[chain].hash == written[-1]["hash"]
    assert rows[0]["case_id"] == uuid.UUID(CASE) and rows[6]["case_id"] is None
    assert rows[0]["occurred_at"] == "2026-12-01T10:00:00Z" and rows[3]["occurred_at"] is None


async def test_an_entry_keeps_the_kept_headers_and_a_digest_of_what_is_no_envelope() -> None:
    store, _ = await _run(_items(_records()))
    reported, _, dead, unreadable, not_envelope, *_ = store.records

    assert reported.record["headers"] == {"event_id": E1, "event_type": "case.reported"}, "no traceparent"
    assert reported.record["event"]["payload"] == {"a": "é", "n": 1.5}
    assert dead.event_key == "message:case.assessed.dlq:0:0", "a dead letter is its own fact"
    assert dead.record["headers"]["x-dlq-consumer"] == "assessment.reported"
    assert set(unreadable.record["event"]) == {"sha256"} and "unreadable" in unreadable.record["headers"]
    assert set(not_envelope.record["event"]) == {"sha256"} and not_envelope.event_type == "unknown"


async def test_the_store_chains_a_second_batch_onto_the_first() -> None:
    first, second = _records()[:4], _records()[4:]
    store, _ = await _run(_items(first))
    await _run(_items(second), store)
    assert [h for _, h in _legacy(store.records)] == [hash_ for *_, hash_ in BEFORE]


def test_each_message_is_answered_by_the_rule_of_the_type_it_names_or_of_its_topic() -> None:
    kinds = [audit.kind_of(message) for message, _ in _items(_records())]
    assert kinds[:6] == [
        CaseReported,
        ReferralWithdrawn,  # beside ReferralCreated on the agency's topic
        CaseAssessed,  # a dead letter: its origin's type
        CaseClosed,  # unreadable bytes: their topic's
        FollowupDue,  # JSON that is no envelope: its topic's
        CaseReported,  # an envelope naming a type unknown here: its topic's
    ]
    assert audit.kind_of(read(_record("child.links.dlq", b"\xff"))) is ChildLinked
    assert audit.kind_of(read(_record("referral.to.court", b"[]"))) is ReferralCreated
    assert all(kind is not None for kind in kinds)


def test_the_table_takes_every_contract_of_a_topic_without_personal_data_and_their_dead_letters() -> None:
    rules = audit.LEDGER.rules
    assert {ReferralCreated, ReferralWithdrawn, ChildLinked, PersonalDataAccessed} <= set(rules)
    assert HotlineReport not in rules and ScreeningRecord not in rules
    assert len(set(rules.values())) == 1, "one rule records them all"
    assert "case.reported.dlq" in audit.LEDGER.topics
    assert not {"intake.reports.raw", "intake.reports.raw.dlq"} & set(audit.LEDGER.topics)


async def test_a_message_of_a_topic_the_ledger_does_not_read_is_refused() -> None:
    with pytest.raises(UnexpectedEvent):
        await _run(_items([_record("intake.reports.raw", b"{}")]))


def test_an_envelope_whose_case_id_is_no_uuid_is_refused_as_it_is_read() -> None:
    # As before the table: the consumer dead-letters it at once, on its first try.
    with pytest.raises(ValueError):
        read(_record("case.reported", _envelope("case.reported", E1, case_id="not-a-uuid")))


def test_the_ledgers_stage_chains_through_its_store_and_opens_no_span_a_message() -> None:
    end = LedgerEnd()
    stage = audit.stage(end)
    assert isinstance(stage.store, LedgerStore) and stage.store.end is end
    assert stage.spans is False and stage.topics == audit.LEDGER.topics
