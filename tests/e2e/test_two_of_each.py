"""Two instances of every service on the real broker and database, sharing each service's consumer
groups. Mid-load one instance of each is killed with SIGKILL — no goodbye, no commit, its batch in
hand — and is not restarted: the survivors take its partitions over once the group's session
times out, and every report still reaches its case, grade, referrals, owner, visit plan and the
ledger; nothing is lost and nothing is doubled."""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy.engine import make_url

from shared.sample_reports import realistic_reports, villages
from shared.settings import Settings
from shared.territory.registry import load_territory
from tests.e2e.conftest import instances, service_env

NAMES = ["intake", "assessment", "referral", "followup", "audit", "casework"]
REPORTS = 1200
KILL_AT = 0.2  # of the reports in intake's database


@pytest.fixture(scope="module")
def two_of_each(infra, tmp_path_factory) -> Iterator[dict]:
    env = service_env(infra)
    logs = tmp_path_factory.mktemp("two-of-each-logs")
    with instances(NAMES, env, logs, count=2, ready_within_s=180) as started:
        yield started


async def _connect(database_url: str) -> asyncpg.Connection:
    url = make_url(database_url)
    return await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port, database=url.database
    )


async def _state(conn: asyncpg.Connection, prefix: str) -> dict:
    """What the run left: its reports in intake, its cases' events on the ledger, and each stage's rows."""
    reported = await conn.fetch(
        "SELECT case_id, record->'event'->'payload'->>'external_id' AS external_id FROM audit.ledger "
        "WHERE topic = 'case.reported' AND event_type = 'case.reported' "
        "AND record->'event'->'payload'->>'external_id' LIKE $1",
        f"{prefix}%",
    )
    cases = sorted({r["case_id"] for r in reported})
    # A report can name a child an earlier test already reported (the sample names repeat): its case
    # is older than this run, and holds that test's events too.
    older = await conn.fetch(
        "SELECT DISTINCT case_id FROM audit.ledger WHERE case_id = ANY($1) AND topic = 'case.reported' "
        "AND NOT coalesce(record->'event'->'payload'->>'external_id', '') LIKE $2",
        cases,
        f"{prefix}%",
    )
    events = await conn.fetch(
        "SELECT case_id, event_type, count(*) AS n FROM audit.ledger "
        "WHERE case_id = ANY($1) AND topic NOT LIKE '%.dlq' GROUP BY 1, 2",
        cases,
    )
    referrals = await conn.fetch(
        "SELECT case_id, count(*) AS n FROM referral.referrals WHERE case_id = ANY($1) GROUP BY 1", cases
    )
    return {
        "intake": await conn.fetchval(
            "SELECT count(*) FROM intake.reports WHERE external_id LIKE $1", f"{prefix}%"
        ),
        "reported": Counter(r["external_id"] for r in reported),
        "cases": cases,
        "new": sorted(set(cases) - {r["case_id"] for r in older}),
        "events": {(r["case_id"], r["event_type"]): r["n"] for r in events},
        "referrals": {r["case_id"]: r["n"] for r in referrals},
        "owned": await conn.fetchval("SELECT count(*) FROM casework.cases WHERE case_id = ANY($1)", cases),
        "planned": await conn.fetchval("SELECT count(*) FROM followup.plans WHERE case_id = ANY($1)", cases),
    }


def _complete(state: dict) -> bool:
    cases = state["cases"]
    return (
        len(state["reported"]) == REPORTS
        and state["owned"] == state["planned"] == len(cases)
        and all(state["events"].get((case, "followup.scheduled")) for case in cases)
        and all(
            state["events"].get((case, "referral.created"), 0) == n for case, n in state["referrals"].items()
        )
    )


async def test_a_killed_instance_of_each_service_loses_nothing_and_doubles_nothing(
    infra, two_of_each
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = Settings()
    reports = realistic_reports(
        REPORTS,
        places=villages(load_territory(settings.territory_file)),
        run=run,
        rng=random.Random(22),
        repeat_share=0.0,
    )
    prefix = reports[0].external_id.rsplit("-", 1)[0] + "-"
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", linger_ms=5)

    async def send(batch) -> None:
        await asyncio.gather(*[await producer.send("intake.reports.raw", v, key=k) for k, v in batch])

    half = REPORTS // 2
    await producer.start()
    conn = await _connect(infra.database_url)
    try:
        # Half the reports, and once intake holds a fifth of all, the kill; then the other half.
        await send(r.message() for r in reports[:half])
        deadline = time.monotonic() + 300
        while (
            await conn.fetchval("SELECT count(*) FROM intake.reports WHERE external_id LIKE $1", f"{prefix}%")
            < REPORTS * KILL_AT
        ):
            assert time.monotonic() < deadline, "intake never took a fifth of the reports"
            await asyncio.sleep(0.05)
        # Mid-load: the second instance of each service dies at once, as under a power cut.
        killed = {label: process for label, (_, process) in two_of_each.items() if label.endswith("#2")}
        for process in killed.values():
            process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        state = await _state(conn, prefix)
        print(f"killed {', '.join(killed)} with {state['intake']} of {REPORTS} reports in intake")
        await send(r.message() for r in reports[half:])

        deadline = time.monotonic() + 600
        while not _complete(state := await _state(conn, prefix)):
            assert time.monotonic() < deadline, (
                f"not every report went through after the kill: {len(state['reported'])} reported, "
                f"{state['owned']} owned, {state['planned']} planned of {REPORTS}"
            )
            await asyncio.sleep(0.5)
        print(f"every report through {time.monotonic() - killed_at:.1f} s after the kill")
    finally:
        await conn.close()
        await producer.stop()

    assert all(process.wait(timeout=5) == -signal.SIGKILL for process in killed.values()), "none came back"
    survivors = [label for label, (_, process) in two_of_each.items() if process.poll() is None]
    assert sorted(survivors) == sorted(NAMES), "the survivors did the rest"
    # Nothing doubled: one report and one case.reported event a report; of the cases this run
    # opened, one case.reported and one grade each; one referral event a referral.
    assert state["intake"] == REPORTS and set(state["reported"].values()) == {1}
    new = state["new"]
    print(f"{len(new)} new cases; {len(state['cases']) - len(new)} reports joined a case of an earlier test")
    assert len(new) >= 0.9 * REPORTS
    assert {state["events"].get((case, "case.reported")) for case in new} == {1}
    assert {state["events"].get((case, "case.assessed")) for case in new} == {1}
    assert all(
        state["events"].get((case, "referral.created"), 0) == n for case, n in state["referrals"].items()
    )
    assert sum(state["referrals"].values()) > 0
