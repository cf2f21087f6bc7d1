"""Intake records hotline reports in batches on the real broker: several reports about one new
child in one batch register it once and join one case, in offset order; a report delivered twice
is one report; a poison report in the middle is dead-lettered while the ones around it are kept."""

from __future__ import annotations

import json

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.intake.service import resources
from shared.settings import Settings
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, national_id
from tests.e2e.test_metrics import samples, value
from tests.e2e.watch import TopicWatcher

RAW, REPORTED = "intake.reports.raw", "case.reported"
NO_SUCH_VILLAGE = "140402001099"


async def send_on_one_partition(bootstrap: str, reports: list[dict], key: bytes) -> None:
    """Sent together (one linger), with one key: one partition, so intake fetches them as one batch."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=50)
    await producer.start()
    try:
        futures = [await producer.send(RAW, json.dumps(r).encode(), key=key) for r in reports]
        for future in futures:
            await future
    finally:
        await producer.stop()


async def isolated(services: RunningServices) -> float:
    """How many of intake's hotline messages were retried one by one because their batch failed."""
    async with httpx.AsyncClient() as http:
        found = samples((await http.get(f"{services.urls['intake']}/metrics")).text)
    return value(
        found,
        "cpnet_consumer_messages_total",
        service="intake",
        consumer="intake.hotline",
        outcome="isolated",
    )


async def test_one_new_child_reported_several_times_in_one_batch_with_a_poison_in_the_middle(
    infra, services: RunningServices
) -> None:
    nid = national_id()
    child = {"national_id": nid, "name": None, "birth_date": None, "age_estimate": 9, "school": None}
    first = hotline_report(child={**child, "name": "Zhao Lei"})
    poison = hotline_report(child=child, jurisdiction=NO_SUCH_VILLAGE)
    second = hotline_report(channel="school", child={**child, "school": "No. 2 Primary"})
    third = hotline_report(channel="hospital", child=child)
    batch = [first, second, poison, first, third]  # `first` delivered twice
    isolated_before = await isolated(services)
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, f"{RAW}.dlq"]) as watcher:
        await send_on_one_partition(infra.kafka_bootstrap, batch, key=nid.encode())
        events = await watcher.wait_for(
            REPORTED,
            lambda s: s.json()["payload"]["external_id"] in {r["external_id"] for r in batch},
            count=3,
            timeout=60,
        )
        (dead,) = await watcher.wait_for(
            f"{RAW}.dlq", lambda s: json.loads(s.value)["external_id"] == poison["external_id"], timeout=60
        )

    assert await isolated(services) == isolated_before, (
        "the batch was decided as one, the poison kept out of it"
    )
    payloads = [e.json()["payload"] for e in events]
    assert [p["external_id"] for p in payloads] == [r["external_id"] for r in (first, second, third)]
    assert [p["earlier_reports"] for p in payloads] == [0, 1, 2], (
        "in offset order, each counts the ones before"
    )
    assert len({p["child_ref"] for p in payloads}) == 1, "one child, registered once"
    assert len({e.json()["case_id"] for e in events}) == 1, "one case"
    assert dead.headers["x-dlq-error"].startswith("ReportRejected: jurisdiction"), dead.headers["x-dlq-error"]

    keys = resources(Settings())
    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as conn:
            children = (
                await conn.execute(
                    text("SELECT id, identity FROM intake.children WHERE national_id_digest = :d"),
                    {"d": keys.hasher.national_id_digest(nid)},
                )
            ).all()
            reports = await conn.scalar(
                text("SELECT count(*) FROM intake.reports WHERE child_id = :c"), {"c": children[0].id}
            )
            cases = await conn.scalar(
                text("SELECT count(*) FROM intake.cases WHERE child_id = :c"), {"c": children[0].id}
            )
    finally:
        await engine.dispose()
    assert len(children) == 1 and (reports, cases) == (3, 1)
    identity = keys.cipher.decrypt_json(children[0].identity, record_id=str(children[0].id))
    assert (identity["name"], identity["school"]) == ("Zhao Lei", "No. 2 Primary"), "completed, in order"
