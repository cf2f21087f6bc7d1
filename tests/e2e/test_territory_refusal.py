"""A report about a territory the registry does not know is refused on both channels — 422
over HTTP, a dead letter with its reason on the hotline topic — and leaves nothing stored,
while the report behind it on the same partition is recorded as usual."""

from __future__ import annotations

import json
import uuid

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import create_async_engine

from services.intake import tables as t
from shared.territory.registry import load_territory
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, token
from tests.e2e.watch import TopicWatcher

RAW, RAW_DLQ, REPORTED = "intake.reports.raw", "intake.reports.raw.dlq", "case.reported"
# A well-formed code under Dongjie Subdistrict (城区, the test reporter's own territory) that
# config/territory.yaml does not list.
UNKNOWN_VILLAGE = "140402001099"
RULE = "jurisdiction: not a node of the territory registry"


async def test_an_unknown_territory_is_refused_on_both_channels_and_nothing_is_stored(
    infra, services: RunningServices
) -> None:
    assert UNKNOWN_VILLAGE not in load_territory() and UNKNOWN_VILLAGE[:9] + "000" in load_territory()
    by_hotline = hotline_report(jurisdiction=UNKNOWN_VILLAGE)
    by_school = hotline_report(channel="school", jurisdiction=UNKNOWN_VILLAGE)
    behind = hotline_report()
    key = f"territory-{uuid.uuid4().hex[:8]}".encode()  # one key: one partition, the valid report behind
    async with TopicWatcher(infra.kafka_bootstrap, [RAW_DLQ, REPORTED]) as watcher:
        producer = AIOKafkaProducer(
            bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            for report in (by_hotline, behind):
                await producer.send_and_wait(RAW, json.dumps(report).encode(), key=key)
        finally:
            await producer.stop()
        async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
            refused = await http.post("/v1/reports", json=by_school, headers=token())
        (letter,) = await watcher.wait_for(RAW_DLQ, lambda seen: seen.key == key, timeout=60)
        recorded = lambda seen: seen.json()["payload"]["external_id"] == behind["external_id"]  # noqa: E731
        await watcher.wait_for(REPORTED, recorded)

    assert refused.status_code == 422, refused.text
    errors = [(err["loc"], err["msg"]) for err in refused.json()["detail"]]
    assert errors == [(["body", "jurisdiction"], RULE)]
    assert UNKNOWN_VILLAGE not in refused.text, "the answer names the rule, never the value"

    assert json.loads(letter.value)["external_id"] == by_hotline["external_id"]
    assert letter.headers["x-dlq-error"] == f"ReportRejected: {RULE}"
    assert letter.headers["x-dlq-original-topic"] == RAW and letter.headers["x-dlq-tries"] == "1"
    refused_ids = {by_hotline["external_id"], by_school["external_id"]}
    assert not watcher.matching(REPORTED, lambda seen: seen.json()["payload"]["external_id"] in refused_ids)

    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as conn:
            reports = await conn.scalar(
                select(func.count())
                .select_from(t.reports)
                .where(
                    or_(t.reports.c.external_id.in_(refused_ids), t.reports.c.jurisdiction == UNKNOWN_VILLAGE)
                )
            )
            children = await conn.scalar(
                select(func.count())
                .select_from(t.children)
                .where(t.children.c.jurisdiction == UNKNOWN_VILLAGE)
            )
            cases = await conn.scalar(
                select(func.count()).select_from(t.cases).where(t.cases.c.jurisdiction == UNKNOWN_VILLAGE)
            )
            stored_behind = await conn.scalar(
                select(func.count())
                .select_from(t.reports)
                .where(t.reports.c.external_id == behind["external_id"])
            )
    finally:
        await engine.dispose()
    assert (reports, children, cases) == (0, 0, 0), "nothing is stored for a refused report"
    assert stored_behind == 1
