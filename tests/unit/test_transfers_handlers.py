"""Following transfers through the one unit of work: each `case.transferred` is decided into its
move, and the store applies a batch's moves at once — each case's last transfer, in offset order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.contracts.envelope import new_envelope
from shared.contracts.events import CaseTransferred
from shared.contracts.vocabulary import RiskLevel, TransferReason
from shared.messaging.consumer import Delivery
from shared.territory.transfers import TRANSFERS, Moves, transfers_stage
from shared.unit_of_work import InMemoryOutbox, InMemoryStore, Stage, UnexpectedEvent
from tests.unit import test_followup_decide as f

NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)
HOME, AWAY, FURTHER = "140402001001", "140403100201", "140403100202"


def _transferred(case_id: uuid.UUID, source: str, to: str):
    return CaseTransferred(
        case_id=case_id,
        approval_id=uuid.uuid4(),
        from_jurisdiction=source,
        jurisdiction=to,
        reason=TransferReason.family_moved,
        requested_by="cw-7",
        accepted_by="sup-2",
        transferred_at=NOW,
    )


def _items(payloads):
    return [
        (
            new_envelope(p, case_id=p.case_id, producer="casework", occurred_at=NOW),
            Delivery(CaseTransferred.TOPIC, 0, offset, None, {}),
        )
        for offset, p in enumerate(payloads)
    ]


async def test_each_transfer_is_decided_into_its_move_and_nothing_is_emitted() -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    store, outbox = InMemoryStore(), InMemoryOutbox()
    stage = Stage("test", TRANSFERS, store, outbox, resources=lambda: None, clock=lambda _: NOW)
    await stage(None, _items([_transferred(one, HOME, AWAY), _transferred(two, HOME, AWAY)]))
    assert store.records == [(one, AWAY), (two, AWAY)]
    assert outbox.envelopes == [] and store.states == {}


async def test_a_batch_moves_each_case_once_to_where_its_last_transfer_took_it() -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    applied: list[tuple[object, Moves]] = []

    async def move(tx, moves: Moves) -> None:
        applied.append((tx, moves))

    stage = transfers_stage("followup", move)
    tx = object()
    await stage(
        tx,
        _items(
            [_transferred(one, HOME, AWAY), _transferred(two, HOME, AWAY), _transferred(one, AWAY, FURTHER)]
        ),
    )
    assert applied == [(tx, {one: FURTHER, two: AWAY})], "one call a batch, in the batch's transaction"
    assert stage.topics == (CaseTransferred.TOPIC,)


async def test_another_event_on_the_transfers_topic_is_refused() -> None:
    async def move(tx, moves: Moves) -> None:
        raise AssertionError("nothing to move")

    fid = uuid.uuid4()
    with pytest.raises(UnexpectedEvent):
        await transfers_stage("followup", move)(
            None,
            [
                (
                    new_envelope(f.graded(fid, RiskLevel.red), case_id=fid, producer="x"),
                    Delivery(CaseTransferred.TOPIC, 0, 0, None, {}),
                )
            ],
        )
