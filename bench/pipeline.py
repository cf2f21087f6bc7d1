"""The pipeline benchmark: N realistic hotline reports through every running service, until each case
has its visit plan and the audit ledger has caught up; and, with a baseline, raw Kafka on the same broker."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text

from bench.figures import latency_rows, percentiles
from bench.flow import ConsumerLag, Flow, TopicTap, partitions_of, wait_until_handled
from bench.services import CpuUse, Fleet, peak_rss_mb
from shared.contracts.hotline import HotlineReport
from shared.contracts.topics import TOPICS
from shared.db.engine import make_engine
from shared.messaging.security import client_security
from shared.sample_reports import SampleReport, realistic_reports, villages
from shared.settings import Settings
from shared.territory.registry import load_territory

# PostgreSQL 15 flushes a busy backend's counters at most once a second and an idle one's within
# ten seconds: pg_stat_database is read again only after that.
STATS_FLUSH_S = 11.0


class DatabaseCounters:
    """Transactions and inserted rows of the whole database (pg_stat_database), before and after."""

    def __init__(self, database_url: str) -> None:
        self._engine = make_engine(database_url, pool_size=1)

    async def read(self) -> tuple[int, int]:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            row = (
                await conn.execute(
                    text(
                        "SELECT xact_commit + xact_rollback, tup_inserted FROM pg_stat_database "
                        "WHERE datname = current_database()"
                    )
                )
            ).one()
        return int(row[0]), int(row[1])

    async def close(self) -> None:
        await self._engine.dispose()


async def produce_all(
    producer: AIOKafkaProducer,
    topic: str,
    messages: list[tuple[bytes, bytes]],
    on_sent: Callable[[int, float], None] = lambda n, at: None,
) -> None:
    pending = []
    for n, (key, value) in enumerate(messages):
        on_sent(n, time.time())
        pending.append(await producer.send(topic, value, key=key))
        if len(pending) >= 2000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


async def raw_round_trip(settings: Settings, messages: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """aiokafka alone: the same number and sizes of messages produced (acks=all) and consumed on a
    scratch topic of the raw topic's partitions — what the broker and client can do on this machine."""
    security = client_security(settings)
    topic = f"bench.baseline.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **security)
    await admin.start()
    await admin.create_topics(
        [NewTopic(topic, TOPICS[HotlineReport.TOPIC].partitions, settings.kafka_replication_factor)]
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **security,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", **security)
    try:
        await consumer.start()
        await producer.start()
        consumer.assign(await partitions_of(consumer, [topic]))
        received = 0
        started = time.time()
        sending = asyncio.create_task(produce_all(producer, topic, messages))
        while received < len(messages):
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            received += sum(len(records) for records in batches.values())
        seconds = time.time() - started
        await sending
    finally:
        await producer.stop()
        await consumer.stop()
        await admin.delete_topics([topic])
        await admin.close()
    return {"messages": len(messages), "seconds": seconds, "messages_per_s": len(messages) / seconds}


async def run_pipeline(
    settings: Settings,
    fleet: Fleet,
    *,
    reports: int,
    baseline: bool,
    seed: int,
    timeout_s: float,
    idle_window_s: float,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Send `reports` hotline reports as fast as the producer goes and measure the pipeline's answer."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    places = villages(load_territory(settings.territory_file))
    batch: list[SampleReport] = realistic_reports(reports, places=places, run=run, rng=rng)
    messages = [report.message() for report in batch]
    security = client_security(settings)
    counters = DatabaseCounters(settings.database_url)
    flow = Flow()
    cpu = CpuUse(fleet)
    try:
        idle_before = await counters.read()
        await asyncio.sleep(idle_window_s)
        before, counted_from = await counters.read(), time.time()
        idle_tx_per_s = (before[0] - idle_before[0]) / idle_window_s
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", **security)
        async with (
            ConsumerLag(settings.kafka_bootstrap, security) as lag,
            TopicTap(settings.kafka_bootstrap, security, flow),
        ):
            await producer.start()
            try:
                started = time.time()
                cpu.start()

                def sent(n: int, at: float) -> None:
                    flow.produced_at[batch[n].external_id] = at

                await produce_all(producer, HotlineReport.TOPIC, messages, sent)
                produced_s = time.time() - started
            finally:
                await producer.stop()
            say(f"{reports} reports sent in {produced_s:.1f} s; waiting for the pipeline…")
            caught_up = await wait_until_handled(flow, lag, started=started, timeout_s=timeout_s, say=say)
            cpu_ms = cpu.stop(per=reports)
        await asyncio.sleep(STATS_FLUSH_S)
        after, counted_s = await counters.read(), time.time() - counted_from
    finally:
        await counters.close()
    stages = {**flow.finished(started), **caught_up}
    end_to_end = stages["followup planned all"]
    # The whole journey: every report graded and planned, every case owned by casework, every event
    # on the ledger.
    journey = max(end_to_end or 0, caught_up["ledger caught up"], caught_up.get("casework caught up", 0))
    transactions, inserted = after[0] - before[0], after[1] - before[1]
    figures: dict[str, Any] = {
        "reports": reports,
        "seed": seed,
        "cases": len(flow.cases),
        "cases_known_before": len(flow.cases - flow.new_cases),
        "refused": len(flow.refused),
        "repeat_reports": sum(r.repeat for r in batch),
        "immediate_danger": sum(r.immediate_danger for r in batch),
        "villages": len({r.body["jurisdiction"] for r in batch}),
        "mean_message_bytes": sum(len(v) for _, v in messages) / max(1, len(messages)),
        "produce_seconds": produced_s,
        "reports_per_s": reports / end_to_end if end_to_end else None,
        "journey_s": journey,
        "journey_reports_per_s": reports / journey if journey else None,
        "ledger_after_plans_percent": (
            100 * (caught_up["ledger caught up"] - end_to_end) / end_to_end if end_to_end else None
        ),
        "stage_finished_s": stages,
        "latency_s": {name: percentiles(samples) for name, samples in flow.latencies().items()},
        "peak_rss_mb": {s.name: peak_rss_mb(s.pid) for s in fleet.services.values()},
        "cpu_ms_per_report": cpu_ms,
        "services": fleet.limits_note,
        "database": {
            "transactions": transactions,
            "rows_inserted": inserted,
            "transactions_per_report": transactions / reports,
            "rows_per_report": inserted / reports,
            "idle_transactions_per_s": idle_tx_per_s,
            "transactions_per_report_less_idle": (transactions - idle_tx_per_s * counted_s) / reports,
        },
    }
    if baseline:
        say("baseline: raw aiokafka produce → consume of the same messages' sizes…")
        sizes = [(uuid.uuid4().hex.encode(), b"x" * len(value)) for _, value in messages]
        raw = await raw_round_trip(settings, sizes)
        raw["pipeline_percent"] = (
            100 * figures["reports_per_s"] / raw["messages_per_s"] if figures["reports_per_s"] else None
        )
        raw["journey_percent"] = (
            100 * figures["journey_reports_per_s"] / raw["messages_per_s"]
            if figures["journey_reports_per_s"]
            else None
        )
        figures["baseline"] = raw
    return figures


def table_rows(figures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """The figures of a pipeline run as the rows of its table."""
    db = figures["database"]
    rows: list[tuple[str, Any, str]] = [
        ("reports", figures["reports"], ""),
        ("cases", figures["cases"], ""),
        ("  of them known before this run", figures["cases_known_before"], ""),
        ("repeat reports", figures["repeat_reports"], ""),
        ("immediate danger", figures["immediate_danger"], ""),
        ("villages", figures["villages"], ""),
        ("refused by intake", figures["refused"], ""),
        ("mean message size", figures["mean_message_bytes"], " B"),
        ("end to end", figures["reports_per_s"], " reports/s"),
        (
            "whole journey (graded, planned, owned, on the ledger)",
            figures["journey_reports_per_s"],
            " reports/s",
        ),
        ("  ledger caught up after the last visit plan", figures["ledger_after_plans_percent"], " % later"),
        ("stage finished (since the first report was sent)", "", ""),
        ("  all reports sent", figures["produce_seconds"], " s"),
    ]
    rows += [(f"  {stage}", seconds, " s") for stage, seconds in figures["stage_finished_s"].items()]
    rows.append(("latency from sending", "", ""))
    for name, label in (
        ("assessed", "  → case.assessed"),
        ("assessed_red", "  → case.assessed, red"),
        ("police_red", "  → referral.to.police, red"),
    ):
        rows += latency_rows(label, figures["latency_s"][name])
    rows.append(("peak RSS (VmHWM)", "", ""))
    rows += [(f"  {name}", mb, " MiB") for name, mb in figures["peak_rss_mb"].items()]
    rows.append(("CPU per report (until the ledger caught up)", "", ""))
    rows += [(f"  {name}", ms, " ms") for name, ms in figures["cpu_ms_per_report"].items()]
    rows += [
        ("PostgreSQL (pg_stat_database)", "", ""),
        ("  transactions per report", db["transactions_per_report"], ""),
        ("  … less the idle rate", db["transactions_per_report_less_idle"], ""),
        ("  idle transactions", db["idle_transactions_per_s"], " /s"),
        ("  rows inserted per report", db["rows_per_report"], ""),
    ]
    if "baseline" in figures:
        raw = figures["baseline"]
        rows += [
            ("baseline: raw aiokafka produce → consume", "", ""),
            ("  messages", raw["messages_per_s"], " /s"),
            ("  pipeline as a share of it", raw["pipeline_percent"], " %"),
            ("  judged: the whole journey as a share of it", raw["journey_percent"], " %"),
        ]
    return rows
