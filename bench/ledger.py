"""The ledger benchmark: a backlog of messages on the ledger's input appended by one audit
instance, then as many by two, in one run on one machine. The ledger is one hash chain per
partition of its input, each with its own lock, so two instances — the consumer group giving each
its own partitions — append at once; the ratio of the two rates is the figure that is judged.

The messages go to the dead-letter topics, which only the ledger reads (every other service's
consumers would take them for work): 31 topics of one partition, 31 chains, envelopes of the size
and shape of a case's assessment."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from bench.flow import LEDGER_GROUP
from bench.services import BenchFailed, Fleet, answers_as, instances_of
from shared.contracts.topics import TOPICS
from shared.db.engine import make_engine
from shared.messaging.security import client_security
from shared.settings import Settings

TOPICS_READ = sorted(name for name, topic in TOPICS.items() if topic.dead_letter and not topic.personal_data)


def _message(rng: random.Random, run: str, n: int) -> bytes:
    """An envelope shaped like a case's assessment (no personal data, as on every audited topic)."""
    return json.dumps(
        {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_type": "case.assessed",
            "schema_version": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
            "case_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "producer": "assessment",
            "payload": {
                "bench_run": run,
                "n": n,
                "grade": rng.choice(["red", "orange", "blue"]),
                "territory": f"1101{rng.randrange(10**8):08d}",
                "categories": rng.sample(["left_behind", "no_guardian", "violence", "begging", "ill"], 2),
                "indicators": rng.sample(
                    ["injury", "hunger", "absent_from_school", "no_guardian", "threat"], 3
                ),
                "age_band": rng.choice(["0-5", "6-11", "12-17"]),
                "reasons": ["grade_rule:" + rng.choice(["violence", "no_guardian", "ill"])] * 2,
            },
        },
        ensure_ascii=False,
    ).encode()


async def _produce(
    producer: AIOKafkaProducer, count: int, run: str, rng: random.Random
) -> dict[TopicPartition, int]:
    """`count` messages over the topics, in turn; each partition's end offset after them."""
    sent = [
        await producer.send(TOPICS_READ[n % len(TOPICS_READ)], _message(rng, run, n), key=str(n).encode())
        for n in range(count)
    ]
    ends: dict[TopicPartition, int] = {}
    keys = []
    for meta in await asyncio.gather(*sent):
        tp = TopicPartition(meta.topic, meta.partition)
        ends[tp] = max(ends.get(tp, 0), meta.offset + 1)
        keys.append(f"message:{meta.topic}:{meta.partition}:{meta.offset}")
    return ends, keys


async def _until_caught_up(
    admin: AIOKafkaAdminClient, ends: dict[TopicPartition, int], timeout_s: float
) -> None:
    """Until the ledger's group has committed past every message (it commits after the database does)."""
    deadline = time.monotonic() + timeout_s
    while True:
        offsets = await admin.list_consumer_group_offsets(LEDGER_GROUP)
        if all(tp in offsets and offsets[tp].offset >= end for tp, end in ends.items()):
            return
        if time.monotonic() > deadline:
            raise BenchFailed(f"the ledger did not catch up within {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


async def _until_stable(admin: AIOKafkaAdminClient, members: int, timeout_s: float = 60) -> None:
    """Until the ledger's consumer group is stable with `members` members (partitions handed out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        (response,) = await admin.describe_consumer_groups([LEDGER_GROUP])
        _error, _name, state, _protocol_type, _protocol, joined, *_ = response.groups[0]
        if state == "Stable" and len(joined) == members:
            return
        await asyncio.sleep(0.2)
    raise BenchFailed(f"the ledger's consumer group never stood stable with {members} members")


async def _entries(settings: Settings, keys: list[str]) -> int:
    """How many of the messages are on the ledger."""
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            query = text("SELECT count(*) FROM audit.ledger WHERE event_key = ANY(:keys)")
            return int(await conn.scalar(query, {"keys": keys}))
    finally:
        await engine.dispose()


async def run_ledger(
    settings: Settings,
    fleet: Fleet,
    *,
    messages: int,
    seed: int,
    timeout_s: float,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """`messages` appended by one audit instance, then as many more by two."""
    if answers_as(f"http://127.0.0.1:{settings.port_of('audit')}", "audit"):
        raise BenchFailed("the audit service is running: stop it, this benchmark starts its own instances")
    rng = random.Random(seed)
    security = client_security(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **security)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5, **security
    )
    await admin.start()
    await producer.start()
    runs: dict[int, dict[str, Any]] = {}
    try:
        for count in (1, 2):
            run = uuid.uuid4().hex[:8]
            with contextlib.ExitStack() as stack:
                say(f"starting {count} audit instance(s)…")
                await asyncio.to_thread(stack.enter_context, instances_of("audit", count))
                await _until_stable(admin, count)
                say(f"{messages} messages for {count} instance(s)…")
                started = time.monotonic()
                ends, keys = await _produce(producer, messages, run, rng)
                sent = time.monotonic() - started
                await _until_caught_up(admin, ends, timeout_s)
                seconds = time.monotonic() - started
            runs[count] = {
                "seconds": round(seconds, 2),
                "sent_s": round(sent, 2),
                "entries_per_s": round(messages / seconds, 1),
                "entries": await _entries(settings, keys),
            }
    finally:
        await producer.stop()
        await admin.close()
    return {
        "messages": messages,
        "chains": len(TOPICS_READ),
        "one": runs[1],
        "two": runs[2],
        "two_over_one": round(runs[2]["entries_per_s"] / runs[1]["entries_per_s"], 2),
    }


def table_rows(figures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    rows: list[tuple[str, Any, str]] = [
        ("messages a round", figures["messages"], ""),
        ("over chains (partitions)", figures["chains"], ""),
    ]
    for key, label in (("one", "one audit instance"), ("two", "two audit instances")):
        run = figures[key]
        rows += [
            (label, "", ""),
            ("  appended in", run["seconds"], " s"),
            ("    of which sending", run["sent_s"], " s"),
            ("  rate", run["entries_per_s"], " entries/s"),
            ("  entries on the ledger", run["entries"], ""),
        ]
    rows.append(("judged: two ÷ one", figures["two_over_one"], " ×"))
    return rows
