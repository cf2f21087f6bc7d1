"""The live-lane benchmark: a screening import of N rows run as a user runs it (`cpnet import screening`)
while hotline reports arrive at a steady rate, red ones plenty: how long a red report waits for the
police while a county's survey floods the pipeline — against the same reports at the same rate on the
idle system first, in the same run; the ratio of the two p99s is the figure that is judged."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from bench.figures import latency_rows, percentiles
from bench.flow import SCREENING_GROUP, ConsumerLag, Flow, TopicTap, wait_until_handled
from bench.services import BenchFailed, Fleet, peak_rss_mb
from bench.survey import Survey, write_survey
from cpnet.importer.run import FILE_ID_DIGITS, file_digest
from shared.contracts.hotline import HotlineReport
from shared.contracts.screening import ScreeningRecord
from shared.db.engine import make_engine
from shared.messaging.security import client_security
from shared.sample_reports import SampleReport, realistic_reports, villages
from shared.settings import Settings
from shared.territory.registry import load_territory

DANGER_SHARE = 0.30  # a third of the live reports in immediate danger: red latency from many samples
LIVE_CHUNK = 1000  # live reports are drawn this many at a time, for as long as the import lasts
WORD_EVERY_S = 5.0


def live_reports(
    first: list[SampleReport], *, places: list[str], run: str, rng: random.Random
) -> Iterator[SampleReport]:
    """`first`, then as many more as asked for."""
    yield from first
    for chunk in count(1):
        yield from realistic_reports(
            LIVE_CHUNK, places=places, run=f"{run}c{chunk}", rng=rng, danger_share=DANGER_SHARE
        )


async def publish_live(
    producer: AIOKafkaProducer,
    reports: Iterable[SampleReport],
    *,
    rate: float,
    flow: Flow,
    stop: asyncio.Event,
) -> list[SampleReport]:
    """Publish reports at `rate` per second until `stop` (or until there are no more); returns those
    sent."""
    sent: list[SampleReport] = []
    pending = []
    started = time.monotonic()
    for report in reports:
        if stop.is_set():
            break
        key, value = report.message()
        flow.produced_at[report.external_id] = time.time()
        pending.append(await producer.send(HotlineReport.TOPIC, value, key=key))
        sent.append(report)
        # On the clock, not after the broker's answer: a slow acknowledgement must not lower the rate.
        delay = started + len(sent) / rate - time.monotonic()
        if delay > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    await asyncio.gather(*pending)
    return sent


class ImportRunFailed(BenchFailed):
    """The import exited with an error; the message ends with its output."""


@dataclass(frozen=True)
class ImportRun:
    seconds: float  # the import process's wall time
    through_intake_s: float  # since it started, until intake had committed every survey row
    peak_rss_mb: float | None


async def import_through_intake(
    survey: Survey,
    lag: ConsumerLag,
    *,
    max_backlog: int | None,
    log: Path,
    timeout_s: float,
    progress: Callable[[], str],
    say: Callable[[str], None],
) -> ImportRun:
    """`cpnet import screening FILE` as a process of its own, then until intake's screening consumer has
    committed every row; `progress` is said every few seconds meanwhile."""
    options = [] if max_backlog is None else ["--max-backlog", str(max_backlog)]
    started = time.monotonic()
    next_word = started + WORD_EVERY_S

    def still_going(state: str) -> None:
        nonlocal next_word
        now = time.monotonic()
        if now - started > timeout_s:
            raise TimeoutError(f"the import was not through intake within {timeout_s:.0f} s: {progress()}")
        if now > next_word:
            say(f"{now - started:6.0f} s  {state}; {progress()}")
            next_word = now + WORD_EVERY_S

    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cpnet.cli",
            "import",
            "screening",
            str(survey.path),
            *options,
            env=dict(os.environ),
            stdout=output,
            stderr=output,
        )
    peak = None
    try:
        while process.returncode is None:
            # VmHWM only grows: the last reading before the process ends is (near) its peak.
            peak = peak_rss_mb(process.pid) or peak
            with suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 0.25)
            still_going("importing")
    finally:
        if process.returncode is None:
            process.kill()  # ours, started above: a benchmark given up on must not go on importing
            await process.wait()
    seconds = time.monotonic() - started
    if process.returncode:
        tail = log.read_text(errors="replace")[-1500:]
        raise ImportRunFailed(f"the import exited with {process.returncode}:\n{tail}")
    while await lag.of(SCREENING_GROUP, ScreeningRecord.TOPIC):
        await asyncio.sleep(0.25)
        still_going("import done, intake catching up")
    return ImportRun(seconds, time.monotonic() - started, peak)


async def rows_stored(settings: Settings, survey: Survey) -> int:
    """The survey's rows intake keeps (`intake.screenings`, by the import's row ids)."""
    file_id = file_digest(survey.path)[:FILE_ID_DIGITS]
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            query = text("SELECT count(*) FROM intake.screenings WHERE external_id LIKE :p")
            stored = await conn.execute(query, {"p": f"{file_id}-%"})
            return int(stored.scalar_one())
    finally:
        await engine.dispose()


async def run_during_import(
    settings: Settings,
    fleet: Fleet,
    *,
    rows: int,
    live_rate: float,
    max_backlog: int | None,
    seed: int,
    timeout_s: float,
    say: Callable[[str], None],
    idle_s: float = 20.0,
) -> dict[str, Any]:
    """Live reports at `live_rate`/s for `idle_s` on the idle system, until every stage has caught up;
    then import a survey of `rows` children while live reports go on arriving at that rate, until the
    import has ended and intake has every row; then follow both until every stage has caught up."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    places = villages(load_territory(settings.territory_file))
    idle = realistic_reports(
        max(2, round(live_rate * idle_s)), places=places, run=f"{run}i", rng=rng, danger_share=DANGER_SHARE
    )
    first = realistic_reports(LIVE_CHUNK, places=places, run=f"{run}c0", rng=rng, danger_share=DANGER_SHARE)
    security = client_security(settings)
    flow = Flow()
    with tempfile.TemporaryDirectory(prefix="cpnet-bench-survey-") as directory:
        began = time.perf_counter()
        children = [(r.body["jurisdiction"], r.body["child"]) for r in first if not r.repeat]
        survey = write_survey(
            Path(directory) / f"survey-{run}.csv", rows, places=places, run=run, rng=rng, known=children
        )
        say(
            f"survey of {rows:,} rows written in {time.perf_counter() - began:.1f} s "
            f"({survey.with_difficulty:,} with a difficulty, "
            f"{survey.known_from_reports} named by live reports)"
        )
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", **security)
        async with (
            ConsumerLag(settings.kafka_bootstrap, security) as lag,
            TopicTap(settings.kafka_bootstrap, security, flow),
        ):
            await producer.start()
            try:
                say(f"{len(idle):,} live reports at {live_rate:g}/s on the idle system…")
                await publish_live(producer, idle, rate=live_rate, flow=flow, stop=asyncio.Event())
                await wait_until_handled(flow, lag, started=time.time(), timeout_s=timeout_s, say=say)
                started, stop = time.time(), asyncio.Event()
                reports = live_reports(first, places=places, run=run, rng=rng)
                publishing = asyncio.create_task(
                    publish_live(producer, reports, rate=live_rate, flow=flow, stop=stop)
                )

                def progress() -> str:
                    graded = flow.progress()["graded"]
                    return f"live reports sent {len(flow.produced_at):,}, graded {graded:,}"

                try:
                    imported = await import_through_intake(
                        survey,
                        lag,
                        max_backlog=max_backlog,
                        log=Path(directory) / "import.log",
                        timeout_s=timeout_s,
                        progress=progress,
                        say=say,
                    )
                finally:
                    stop.set()
                    live = await publishing
                publishing_s = time.time() - started
            finally:
                await producer.stop()
            say(
                f"import through intake after {imported.through_intake_s:.1f} s, {len(live):,} live reports "
                "sent; waiting for every stage to catch up…"
            )
            caught_up = await wait_until_handled(flow, lag, started=started, timeout_s=timeout_s, say=say)
        stored = await rows_stored(settings, survey)
    latencies = flow.latencies(only={r.external_id for r in live})
    quiet = flow.latencies(only={r.external_id for r in idle})
    police, police_idle = percentiles(latencies["police_red"]), percentiles(quiet["police_red"])
    # The judged line: a child in immediate danger (the urgent lanes' work), on its own.
    emergency = percentiles(_to_police(flow, live)), percentiles(_to_police(flow, idle))
    return {
        "rows": rows,
        "seed": seed,
        "max_backlog": max_backlog,
        "survey": {
            "rows_with_difficulty": survey.with_difficulty,
            "villages": survey.villages,
            "rows_named_by_live_reports": survey.known_from_reports,
            "rows_stored_by_intake": stored,
        },
        "import": {
            "seconds": imported.seconds,
            "rows_per_s": rows / imported.seconds,
            "through_intake_s": imported.through_intake_s,
            "peak_rss_mb": imported.peak_rss_mb,
        },
        "live": {
            "rate_asked_per_s": live_rate,
            "sent": len(live),
            "sent_per_s": len(live) / publishing_s,
            "immediate_danger": sum(r.immediate_danger for r in live),
            "refused": len(flow.refused),
            "red": len(latencies["assessed_red"]),
        },
        "latency_s": {
            "police_emergency": emergency[0],
            "police_red": police,
            "assessed_red": percentiles(latencies["assessed_red"]),
            "assessed": percentiles(latencies["assessed"]),
        },
        "idle": {
            "sent": len(idle),
            "latency_s": {
                "police_emergency": emergency[1],
                "police_red": police_idle,
                "assessed_red": percentiles(quiet["assessed_red"]),
            },
        },
        "p99_ratio": _ratio(*emergency, "p99"),
        "p50_ratio": _ratio(*emergency, "p50"),
        "red_p99_ratio": _ratio(police, police_idle, "p99"),
        "caught_up_s": caught_up,
        "peak_rss_mb": {s.name: peak_rss_mb(s.pid) for s in fleet.services.values()},
        "services": fleet.limits_note,
    }


def _to_police(flow, reports) -> list[float]:
    """Seconds from sending each report in immediate danger of `reports` to its police referral."""
    return flow.latencies(only={r.external_id for r in reports if r.immediate_danger})["police_red"]


def _ratio(under: dict[str, Any], idle: dict[str, Any], which: str) -> float | None:
    """`which` percentile during the import ÷ the same on the idle system (None without both)."""
    if not under.get("count") or not idle.get("count") or not idle[which]:
        return None
    return under[which] / idle[which]


def table_rows(figures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """The figures of a run as the rows of its table."""
    survey, imported, live = figures["survey"], figures["import"], figures["live"]
    rows: list[tuple[str, Any, str]] = [
        ("screening import", "", ""),
        ("  rows", figures["rows"], ""),
        ("  with a difficulty", survey["rows_with_difficulty"], ""),
        ("  named by a live report too", survey["rows_named_by_live_reports"], ""),
        ("  villages", survey["villages"], ""),
        ("  import wall time", imported["seconds"], " s"),
        ("  import rate", imported["rows_per_s"], " rows/s"),
        ("  through intake after", imported["through_intake_s"], " s"),
        ("  rows stored by intake", survey["rows_stored_by_intake"], ""),
        ("  max backlog", "the importer's" if figures["max_backlog"] is None else figures["max_backlog"], ""),
        ("live hotline reports, meanwhile", "", ""),
        ("  sent", live["sent"], ""),
        ("  rate", live["sent_per_s"], " reports/s"),
        ("  immediate danger", live["immediate_danger"], ""),
        ("  graded red", live["red"], ""),
        ("  refused by intake", live["refused"], ""),
        ("latency from sending", "", ""),
    ]
    for name, label in (
        ("police_emergency", "  immediate danger → referral.to.police"),
        ("police_red", "  red → referral.to.police"),
        ("assessed_red", "  red → case.assessed"),
        ("assessed", "  all → case.assessed"),
    ):
        rows += latency_rows(label, figures["latency_s"][name])
    rows.append((f"the same, idle ({figures['idle']['sent']:,} reports first)", "", ""))
    for name, label in (
        ("police_emergency", "  immediate danger → referral.to.police"),
        ("police_red", "  red → referral.to.police"),
        ("assessed_red", "  red → case.assessed"),
    ):
        rows += latency_rows(f"{label}, idle", figures["idle"]["latency_s"][name])
    rows += [
        ("judged: immediate danger → police, during ÷ idle", "", ""),
        ("  p99", figures["p99_ratio"], " ×"),
        ("  p50", figures["p50_ratio"], " ×"),
        ("printed: red → police, during ÷ idle, p99", figures["red_p99_ratio"], " ×"),
    ]
    rows.append(("caught up (since the import started)", "", ""))
    rows += [(f"  {stage}", seconds, " s") for stage, seconds in figures["caught_up_s"].items()]
    rows.append(("peak RSS (VmHWM)", "", ""))
    rows += [(f"  {name}", mb, " MiB") for name, mb in figures["peak_rss_mb"].items()]
    rows.append(("  the import", imported["peak_rss_mb"], " MiB"))
    return rows
