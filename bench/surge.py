"""The surge benchmark: emergencies (a child in immediate danger) sent at a steady rate on the idle
system, then the same right after a burst of ordinary hotline reports — how much longer a red child
waits for the police when a crowd came first. The ratio of the two p99s, measured in one run on one
machine, is the figure that is judged; the absolute ones are printed."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.during_import import publish_live
from bench.figures import latency_rows, percentiles
from bench.flow import ConsumerLag, Flow, TopicTap, wait_until_handled
from bench.pipeline import produce_all
from bench.services import Fleet
from shared.contracts.hotline import HotlineReport
from shared.messaging.security import client_security
from shared.sample_reports import SampleReport, realistic_reports, villages
from shared.settings import Settings
from shared.territory.registry import load_territory


def police_latencies(flow: Flow, reports: Sequence[SampleReport]) -> list[float]:
    """Seconds from sending each of `reports` to its case's police referral (those that have one)."""
    return flow.latencies(only={r.external_id for r in reports})["police_red"]


async def send_at_rate(
    producer: AIOKafkaProducer, reports: Sequence[SampleReport], *, rate: float, flow: Flow
) -> None:
    """Each report on the hotline topic on the clock (`rate` a second), not after the broker's answer."""
    await publish_live(producer, reports, rate=rate, flow=flow, stop=asyncio.Event())


async def until_referred(
    flow: Flow, reports: Sequence[SampleReport], *, timeout_s: float, say: Callable[[str], None]
) -> None:
    """Until every report of `reports` that will reach the police has (each is in immediate danger,
    so each does), or the time is up."""
    deadline = time.monotonic() + timeout_s
    while len(police_latencies(flow, reports)) < len(reports):
        if time.monotonic() > deadline:
            say(f"{len(police_latencies(flow, reports))} of {len(reports)} emergencies reached the police")
            return
        await asyncio.sleep(0.2)


async def run_surge(
    settings: Settings,
    fleet: Fleet,
    *,
    burst: int,
    emergencies: int,
    rate: float,
    seed: int,
    timeout_s: float,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """`emergencies` at `rate`/s on the idle system; then `burst` ordinary reports as fast as the producer
    goes, followed at once by `emergencies` more at `rate`/s; until every stage has caught up."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    places = villages(load_territory(settings.territory_file))

    def danger(tag: str) -> list[SampleReport]:
        made = realistic_reports(
            emergencies, places=places, run=f"{run}{tag}", rng=rng, danger_share=1.0, repeat_share=0.0
        )
        return [r for r in made if r.immediate_danger]

    idle, under_load = danger("i"), danger("u")
    crowd = realistic_reports(burst, places=places, run=f"{run}b", rng=rng, danger_share=0.0)
    security = client_security(settings)
    flow = Flow()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", **security)
    async with (
        ConsumerLag(settings.kafka_bootstrap, security) as lag,
        TopicTap(settings.kafka_bootstrap, security, flow),
    ):
        await producer.start()
        try:
            started = time.time()
            say(f"idle: {len(idle)} emergencies at {rate:g}/s…")
            await send_at_rate(producer, idle, rate=rate, flow=flow)
            await until_referred(flow, idle, timeout_s=min(timeout_s, 120), say=say)
            await wait_until_handled(flow, lag, started=started, timeout_s=timeout_s, say=say)
            say(f"surge: {burst:,} ordinary reports, then {len(under_load)} emergencies at {rate:g}/s…")
            burst_started = time.time()

            def sent(n: int, at: float) -> None:
                flow.produced_at[crowd[n].external_id] = at

            await produce_all(
                producer, HotlineReport.TOPIC, [report.message() for report in crowd], on_sent=sent
            )
            burst_sent_s = time.time() - burst_started
            await send_at_rate(producer, under_load, rate=rate, flow=flow)
        finally:
            await producer.stop()
        caught_up = await wait_until_handled(flow, lag, started=burst_started, timeout_s=timeout_s, say=say)
    quiet = flow.latencies(only={r.external_id for r in idle})
    busy = flow.latencies(only={r.external_id for r in under_load})
    hops = {
        hop: {"idle": percentiles(quiet[hop]), "under_load": percentiles(busy[hop])}
        for hop in ("reported", "assessed")
    }
    quiet, busy = percentiles(quiet["police_red"]), percentiles(busy["police_red"])
    return {
        "burst": burst,
        "emergencies": {"idle": len(idle), "under_load": len(under_load)},
        "rate_per_s": rate,
        "seed": seed,
        "burst_sent_s": burst_sent_s,
        "police_s": {"idle": quiet, "under_load": busy},
        "hops_s": hops,
        "p99_ratio": busy["p99"] / quiet["p99"] if busy["p99"] and quiet["p99"] else None,
        "p50_ratio": busy["p50"] / quiet["p50"] if busy["p50"] and quiet["p50"] else None,
        "caught_up_s": caught_up,
        "services": fleet.limits_note,
    }


def table_rows(figures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """The figures of a surge run as the rows of its table."""
    rows: list[tuple[str, Any, str]] = [
        ("ordinary reports in the burst", figures["burst"], ""),
        ("  sent in", figures["burst_sent_s"], " s"),
        ("emergencies a phase", figures["emergencies"]["idle"], ""),
        ("  sent at", figures["rate_per_s"], " /s"),
        ("emergency → referral.to.police", "", ""),
    ]
    rows += latency_rows("  idle", figures["police_s"]["idle"])
    rows += latency_rows("  after the burst", figures["police_s"]["under_load"])
    for hop, label in (("reported", "case.reported"), ("assessed", "case.assessed")):
        rows.append((f"emergency → {label} (on the way)", "", ""))
        for phase, name in (("idle", "  idle"), ("under_load", "  after the burst")):
            rows += [(f"{name} {p}", figures["hops_s"][hop][phase][p], " s") for p in ("p50", "p99")]
    rows += [
        ("judged: after the burst ÷ idle", "", ""),
        ("  p99", figures["p99_ratio"], " ×"),
        ("  p50", figures["p50_ratio"], " ×"),
        ("caught up (since the burst started)", "", ""),
    ]
    rows += [(f"  {stage}", seconds, " s") for stage, seconds in figures["caught_up_s"].items()]
    return rows
