"""The consumers of the help delivered keep the pipeline's guarantees on the real broker (every service a
process): casework and intake read `service.status` — one trace from the request that planned a service to
the event, a case's changes on one partition in the order they were made, and an old change delivered
again after a newer one (as a crash before a commit redelivers it) has no second effect: the delivered
service is not owed again, and its provider's worker is not let read again. No note is on the bus."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy.engine import make_url

from services.referral.provision import LOCAL
from shared.auth import Role
from shared.contracts.events import ServiceChanged
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import assignment, hotline_report, token
from tests.e2e.test_casework import _case, reported_and_owned
from tests.e2e.test_consent import SUPERVISOR, _service_for_a_social_work_organisation, _until
from tests.e2e.watch import TopicWatcher

COUNTY, VILLAGE = "140402", "140402002001"
TOPIC = ServiceChanged.TOPIC
TRACE_ID = uuid.uuid4().hex


async def _row(database_url: str, query: str, *args):
    url = make_url(database_url)
    conn = await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port, database=url.database
    )
    try:
        return await conn.fetchrow(query, *args)
    finally:
        await conn.close()


async def test_service_status_keeps_one_trace_order_per_case_and_one_effect_per_event(
    infra, services: RunningServices
) -> None:
    caseworker = f"cw-{uuid.uuid4().hex[:8]}"
    mine = token(Role.caseworker, caseworker, jurisdiction=COUNTY)
    case_id = await reported_and_owned(infra, hotline_report(jurisdiction=VILLAGE))
    db = infra.database_url
    async with TopicWatcher(infra.kafka_bootstrap, [TOPIC]) as watcher:
        async with httpx.AsyncClient(base_url=services.urls["casework"]) as casework:
            await _case(casework, case_id, SUPERVISOR)
            owned = await casework.post(
                f"/v1/cases/{case_id}/assignment", json=assignment(caseworker), headers=SUPERVISOR
            )
            assert owned.status_code == 200, owned.text
        traced = {**mine, "traceparent": f"00-{TRACE_ID}-{uuid.uuid4().hex[:16]}-01"}
        provider_id = await _service_for_a_social_work_organisation(services, case_id, traced)
        worker = token(Role.provider_worker, "sw-guarantees", jurisdiction=COUNTY, provider=provider_id)
        (planned,) = await watcher.wait_for(TOPIC, lambda s: s.json()["case_id"] == case_id, timeout=60)
        service_id = planned.json()["payload"]["service_id"]
        async with httpx.AsyncClient(base_url=services.urls["referral"]) as referral:
            for action in (
                {"action": "accept", "note": "第一次电话联系监护人"},
                {"action": "deliver", "outcome": "need_met"},
            ):
                answer = await referral.post(
                    f"/v1/services/{service_id}/progress", json=action, headers=worker
                )
                assert answer.status_code == 200, answer.text
        changes = await watcher.wait_for(TOPIC, lambda s: s.json()["case_id"] == case_id, count=3, timeout=60)

    # One trace: the request that planned the service and the event it caused.
    assert planned.headers["traceparent"].split("-")[1] == TRACE_ID
    # Order per case: keyed by the case, one partition, in the order the changes were made.
    assert {s.key for s in changes} == {case_id.encode()} and len({s.partition for s in changes}) == 1
    assert [s.json()["payload"]["state"] for s in sorted(changes, key=lambda s: s.offset)] == [
        "planned",
        "accepted",
        "delivered",
    ]
    assert all("第一次" not in s.value.decode() for s in changes), "a note stays sealed in referral"

    heard = "SELECT state FROM casework.services WHERE service_id = $1"
    granted = "SELECT state FROM intake.service_grants WHERE service_id = $1"
    for query in (heard, granted):
        await _until(
            lambda q=query: _row(db, q, uuid.UUID(service_id)),
            lambda r: r is not None and r["state"] == "delivered",
            f"never heard the delivery: {query}",
        )

    # The planning delivered again, twice, after the delivery (the same envelope, key and headers), then a
    # second service of the case behind it on the same partition: once that is heard, the old event is past.
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for _ in range(2):
            await producer.send_and_wait(
                TOPIC,
                planned.value,
                key=planned.key,
                partition=planned.partition,
                headers=[(k, v.encode()) for k, v in planned.headers.items()],
            )
    finally:
        await producer.stop()
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as referral:
        later = await referral.post(
            f"/v1/cases/{case_id}/services",
            json={
                "kind": "counselling",
                "provider_id": provider_id,
                "due_on": str((datetime.now(LOCAL) + timedelta(days=30)).date()),
            },
            headers=mine,
        )
        assert later.status_code == 201, later.text
    second = uuid.UUID(later.json()["service_id"])
    for query in (heard, granted):
        await _until(lambda q=query: _row(db, q, second), lambda r: r is not None, f"never heard: {query}")
        again = await _row(db, query, uuid.UUID(service_id))
        assert again["state"] == "delivered", f"an old event had a second effect: {query}"
    # The ledger reads the partition in order too: once it has the second service, it is past the copies.
    await _until(
        lambda: _row(
            db,
            "SELECT seq FROM audit.ledger "
            "WHERE topic = $1 AND record->'event'->'payload'->>'service_id' = $2",
            TOPIC,
            str(second),
        ),
        lambda r: r is not None,
        "the ledger never recorded the second service",
    )
    ledger = await _row(
        db,
        "SELECT count(*) AS n FROM audit.ledger WHERE event_key = $1",
        f"event:{planned.json()['event_id']}",
    )
    assert ledger["n"] == 1, "the ledger keeps an event once, however often it is delivered"
