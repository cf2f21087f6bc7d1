"""The agency consumer kit: what an agency runs on its own side. It reads the agency's own
topic with the agency's own consumer group, keeps the referrals of its territory, hands each
to the agency's system (a JSON line in a file, or a webhook), then acknowledges it. A referral
the case's side withdrew is handed over the same way, so the agency stops work on it; and so is a
family's withdrawal of its consent to share with the agency (intake refuses the next read of the child's
details whatever the agency's system does).

A referral is written or posted before it is acknowledged, and the offset is committed only
after both, so a restart never misses one. The ids already acknowledged are kept in a state
file beside the output, so a restart never acknowledges one twice either.

Emergencies first: an agency coming back to a backlog must not reach a child in immediate
danger after thousands of older referrals. A second lane — its own consumer group,
`agency.<agency>.urgent`, on the same topic — reads ahead, passes over everything but
emergencies (parsing is all it costs) and hands those over at once; the ordinary lane goes on
in order and passes over what the urgent lane already acknowledged. One lock around the
hand-over keeps the two from handing over the same referral twice.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from shared.contracts.envelope import ContractError, new_envelope, parse_event
from shared.contracts.events import (
    ConsentWithdrawn,
    ReferralCreated,
    ReferralResponded,
    ReferralWithdrawn,
)
from shared.contracts.topics import agency_groups, referral_topic
from shared.contracts.vocabulary import Agency


class AckLog:
    """Referral ids this agency has acknowledged, one per line, fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids = set(path.read_text().split()) if path.exists() else set()

    def __contains__(self, referral_id: str) -> bool:
        return referral_id in self.ids

    def add(self, referral_id: str) -> None:
        with open(self.path, "a") as handle:
            handle.write(referral_id + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.ids.add(referral_id)


async def listen(
    *,
    bootstrap: str,
    agency: Agency,
    jurisdiction: str = "",
    out: Path | None = None,
    webhook: str | None = None,
    state: Path,
    responder: str,
    stop: asyncio.Event | None = None,
    echo=print,
    security: dict[str, Any] | None = None,
) -> None:
    """`security`: the agency's own SASL principal (agency-<agency>) and TLS, as aiokafka options."""
    stop = stop or asyncio.Event()
    acked = AckLog(state)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **(security or {})
    )
    ordinary_group, urgent_group = agency_groups(agency)
    lanes = {
        False: _consumer(bootstrap, agency, ordinary_group, security),
        True: _consumer(bootstrap, agency, urgent_group, security),
    }
    started = []
    try:
        await producer.start()
        for consumer in lanes.values():
            await consumer.start()
            started.append(consumer)
        async with httpx.AsyncClient(timeout=10) as http:
            hand_over = asyncio.Lock()

            async def handle(value: bytes, emergencies_only: bool) -> None:
                if emergencies_only and not _emergency(value):
                    return  # passed over without waiting for the ordinary lane's hand-over
                async with hand_over:
                    await _handle(
                        value,
                        agency=agency,
                        jurisdiction=jurisdiction,
                        out=out,
                        webhook=webhook,
                        http=http,
                        producer=producer,
                        acked=acked,
                        responder=responder,
                        echo=echo,
                    )

            # A lane that fails stops the other (which ends its batch), then the failure is raised.
            ended = await asyncio.gather(
                *(_lane(consumer, urgent, handle, stop) for urgent, consumer in lanes.items()),
                return_exceptions=True,
            )
            for outcome in ended:
                if isinstance(outcome, BaseException):
                    raise outcome
    finally:
        for consumer in started:
            await consumer.stop()
        await producer.stop()


def _emergency(value: bytes) -> bool:
    """Whether a message is the referral of a child in immediate danger."""
    try:
        referral = parse_event(value).payload
    except (ContractError, ValidationError):
        return False
    return isinstance(referral, ReferralCreated) and referral.emergency


def _consumer(
    bootstrap: str, agency: Agency, group: str, security: dict[str, Any] | None
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        referral_topic(agency),
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **(security or {}),
    )


async def _lane(consumer: AIOKafkaConsumer, urgent: bool, handle, stop: asyncio.Event) -> None:
    """One lane's loop: a batch at a time, each record handled in order, the handled committed;
    a failure stops the kit's other lane too."""
    try:
        await _batches(consumer, urgent, handle, stop)
    except BaseException:
        stop.set()
        raise


async def _batches(consumer: AIOKafkaConsumer, urgent: bool, handle, stop: asyncio.Event) -> None:
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=500)
        # Asked to stop mid-batch, the kit finishes the referral in hand and commits up to it:
        # the rest are read again at the next start, none is skipped or acknowledged twice.
        handled: dict[TopicPartition, int] = {}
        for partition, records in batch.items():
            for record in records:
                if stop.is_set():
                    break
                await handle(record.value, urgent)
                handled[partition] = record.offset + 1
        if handled:
            await consumer.commit(handled)


async def _handle(
    value: bytes,
    *,
    agency: Agency,
    jurisdiction: str,
    out: Path | None,
    webhook: str | None,
    http: httpx.AsyncClient,
    producer: AIOKafkaProducer,
    acked: AckLog,
    responder: str,
    echo,
) -> None:
    try:
        event = parse_event(value)
    except (ContractError, ValidationError) as exc:
        echo(f"skipped a message that is not a referral ({type(exc).__name__})")
        return
    referral = event.payload
    if isinstance(referral, ConsentWithdrawn) and referral.agency == agency:
        if referral.jurisdiction.startswith(jurisdiction):
            await _deliver(event.to_json().decode(), out=out, webhook=webhook, http=http)
            echo(
                f"consent withdrawn for case {referral.case_number or referral.case_id}: "
                "the child's details are no longer yours to read"
            )
        return
    if isinstance(referral, ReferralWithdrawn) and referral.agency == agency:
        if str(referral.referral_id) in acked:  # only a referral this office received is its to stop
            await _deliver(event.to_json().decode(), out=out, webhook=webhook, http=http)
            echo(f"referral {referral.referral_id} withdrawn ({referral.reason}): stop work on it")
        return
    if not isinstance(referral, ReferralCreated) or referral.agency != agency:
        return
    if not referral.jurisdiction.startswith(jurisdiction):
        return  # another territory's office handles it
    line = event.to_json().decode()
    if str(referral.referral_id) not in acked:
        await _deliver(line, out=out, webhook=webhook, http=http)
        ack = ReferralResponded(
            referral_id=referral.referral_id,
            case_id=referral.case_id,
            agency=agency,
            action="acknowledge",
            responded_at=datetime.now(UTC),
            responder_ref=responder,
        )
        envelope = new_envelope(ack, case_id=referral.case_id, producer=f"agency.{agency}", causation=event)
        await producer.send_and_wait(
            ReferralResponded.TOPIC,
            envelope.to_json(),
            key=str(referral.case_id).encode(),
            headers=[
                ("event_id", str(envelope.event_id).encode()),
                ("event_type", envelope.event_type.encode()),
            ],
        )
        acked.add(str(referral.referral_id))
        echo(
            f"referral {referral.referral_id} ({referral.risk_level}"
            f"{', emergency' if referral.emergency else ''}) received and acknowledged"
        )


def _append(out: Path, line: str) -> None:
    with open(out, "a") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


async def _deliver(line: str, *, out: Path | None, webhook: str | None, http: httpx.AsyncClient) -> None:
    """One message to the agency's system: a fsynced JSON line, and/or a webhook's POST."""
    if out is not None:
        await asyncio.to_thread(_append, out, line)
    if webhook is not None:
        answer = await http.post(webhook, content=line, headers={"Content-Type": "application/json"})
        answer.raise_for_status()  # not delivered: no acknowledgement, and the offset stays
