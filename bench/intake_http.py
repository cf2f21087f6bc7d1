"""The intake HTTP benchmark: `POST /v1/reports` at each concurrency, by many caseworkers (each with a
subject of their own, of the county the report is about, as a county's people would send them), with
every service running; between levels the pipeline drains, so each level starts from a quiet system.
Many reporters, so that against services running with their own rate limits (`make run`) it measures
the service, not one person's write limit (600 a minute).

First, when it starts the services itself, the highest level against intake alone (the others not yet
started): the rate with every service running is printed as a share of it, in the same run — what the
rest of the system costs the front door on the same machine."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp

from bench.figures import latency_rows, percentiles
from bench.flow import ConsumerLag, Flow, TopicTap, wait_until_handled
from bench.services import CpuUse, Fleet, answers_as, peak_rss_mb, services_running
from shared.auth import Role, issue_token
from shared.messaging.security import client_security
from shared.sample_reports import realistic_reports, villages
from shared.settings import Settings
from shared.territory.registry import load_territory

CITY = "1404"
REPORTERS_PER_COUNTY = 20


def reporters(settings: Settings, places: list[str]) -> dict[str, list[str]]:
    """County code → the tokens of its reporting caseworkers."""
    counties = sorted({place[:6] for place in places})
    return {
        county: [
            issue_token(
                settings, subject=f"bench-caseworker-{county}-{n}", role=Role.caseworker, jurisdiction=county
            )
            for n in range(REPORTERS_PER_COUNTY)
        ]
        for county in counties
    }


def signed(bodies: list[dict], tokens: dict[str, list[str]]) -> list[tuple[dict, str]]:
    """Each body with the token of one of its county's reporters, in turn."""
    turn: Counter = Counter()
    out = []
    for body in bodies:
        county = body["jurisdiction"][:6]
        out.append((body, tokens[county][turn[county] % len(tokens[county])]))
        turn[county] += 1
    return out


async def _post_all(
    url: str, bodies: list[tuple[dict, str]], concurrency: int, flow: Flow
) -> tuple[list[float], Counter, float]:
    latencies: list[float] = []
    statuses: Counter = Counter()
    queue = iter(bodies)
    # aiohttp, not httpx: on two cores the client shares the CPU with what it measures, and httpx's
    # pool spent 3.5 ms of CPU a request at 32 connections (aiohttp 0.2 ms; docs/PERFORMANCE.md).
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        url,
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=60.0),
    ) as http:

        async def caller() -> None:
            for body, token in queue:  # one shared iterator: each is posted once, by whichever caller is free
                sent = time.time()
                # Expected before it is sent: its case.reported may reach the tap before the answer.
                flow.produced_at[body["external_id"]] = sent
                status: int | str
                try:
                    headers = {"Authorization": f"Bearer {token}"}
                    async with http.post("/v1/reports", json=body, headers=headers) as response:
                        await response.read()
                        status = response.status
                except (TimeoutError, aiohttp.ClientError) as exc:
                    status = type(exc).__name__
                else:
                    latencies.append(time.time() - sent)
                statuses[status] += 1
                if status != 202:
                    flow.produced_at.pop(body["external_id"])

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return latencies, statuses, seconds


async def _post_level(
    fleet: Fleet, bodies: list[tuple[dict, str]], callers: int, tap_flow: Flow
) -> dict[str, Any]:
    """One level's posts: answers, latencies and the CPU each process spent a request."""
    cpu = CpuUse(fleet)
    cpu.start()
    latencies, statuses, seconds = await _post_all(fleet.services["intake"].url, bodies, callers, tap_flow)
    return {
        "concurrency": callers,
        "requests": len(bodies),
        "seconds": seconds,
        "requests_per_s": len(bodies) / seconds,
        "statuses": {str(status): n for status, n in statuses.items()},
        "latency_s": percentiles(latencies),
        "cpu_ms_per_request": cpu.stop(per=len(bodies)),
    }


async def run_intake_http(
    settings: Settings,
    fleet: Fleet,
    *,
    requests: int,
    concurrency: list[int],
    seed: int,
    timeout_s: float,
    say: Callable[[str], None],
    others: list[str] | None = None,
) -> dict[str, Any]:
    """`requests` reports posted at each concurrency in turn; the pipeline drains after each level.
    With `others` (the services besides intake, which `fleet` then lacks): first the highest level
    against intake alone, then the others are started here, and the levels run with all of them."""
    places = [code for code in villages(load_territory(settings.territory_file)) if code.startswith(CITY)]
    tokens = reporters(settings, places)
    rng = random.Random(seed)
    security = client_security(settings)
    others = others or []
    running = [name for name in others if answers_as(f"http://127.0.0.1:{settings.port_of(name)}", name)]
    levels, alone = [], None
    phases = [("all", c) for c in concurrency]
    if others and not running:
        phases.insert(0, ("alone", max(concurrency)))
    with contextlib.ExitStack() as stack:

        async def start_others(fleet: Fleet) -> Fleet:
            more = await asyncio.to_thread(stack.enter_context, services_running(settings, others))
            return Fleet({**fleet.services, **more.services}, fleet.logs)

        if phases[0][0] == "all" and others:
            fleet = await start_others(fleet)  # already running: used as they are
        for phase, callers in phases:
            level = realistic_reports(requests, places=places, run=uuid.uuid4().hex[:8], rng=rng)
            bodies = signed([report.body for report in level], tokens)
            flow = Flow()
            # The tap reads once the requests are answered: on two cores its reading would take the
            # CPU the services answer with (it only tells when the pipeline has drained).
            async with (
                ConsumerLag(settings.kafka_bootstrap, security) as lag,
                TopicTap(settings.kafka_bootstrap, security, flow, reading=False) as tap,
            ):
                posted = await _post_level(fleet, bodies, callers, flow)
                say(f"{phase}, concurrency {callers}: {requests} requests in {posted['seconds']:.1f} s")
                if phase == "alone":
                    alone = posted
                    say(f"starting {', '.join(others)}…")
                    fleet = await start_others(fleet)
                tap.read()
                say("waiting for the pipeline to drain…")
                started = time.time()
                await wait_until_handled(flow, lag, started=started, timeout_s=timeout_s, say=say)
                drained_s = time.time() - started
            if phase == "all":
                levels.append(
                    {
                        **posted,
                        "pipeline_drained_after_s": drained_s,
                        "intake_peak_rss_mb": peak_rss_mb(fleet.services["intake"].pid),
                    }
                )
        peak = {s.name: peak_rss_mb(s.pid) for s in fleet.services.values()}
    top = next((level for level in levels if level["concurrency"] == max(concurrency)), None)
    return {
        "requests_per_level": requests,
        "reporters": sum(len(t) for t in tokens.values()),
        "seed": seed,
        "levels": levels,
        "alone": alone,
        "alone_note": (
            None
            if alone
            else f"intake alone not measured: {', '.join(running)} already running"
            if running
            else "intake alone not measured"
        ),
        "share_of_alone": top["requests_per_s"] / alone["requests_per_s"] if alone and top else None,
        "services": fleet.limits_note,
        "peak_rss_mb": peak,
    }


def table_rows(figures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    rows: list[tuple[str, Any, str]] = [
        ("reporters (caseworkers of the city's counties)", figures["reporters"], "")
    ]
    for level in figures["levels"]:
        rows += [
            (f"concurrency {level['concurrency']}", "", ""),
            ("  requests", level["requests"], ""),
            ("  answers", ", ".join(f"{k}: {v}" for k, v in sorted(level["statuses"].items())), ""),
            ("  rate", level["requests_per_s"], " req/s"),
        ]
        rows += latency_rows("  latency", level["latency_s"])
        rows += [
            ("  intake peak RSS so far", level["intake_peak_rss_mb"], " MiB"),
            ("  pipeline drained after", level["pipeline_drained_after_s"], " s"),
            ("  CPU per request, while posting", "", ""),
        ]
        rows += [(f"    {name}", ms, " ms") for name, ms in level["cpu_ms_per_request"].items()]
    alone = figures["alone"]
    if alone is None:
        rows.append((figures["alone_note"], "", ""))
    else:
        rows += [
            (f"intake alone, concurrency {alone['concurrency']}", "", ""),
            ("  answers", ", ".join(f"{k}: {v}" for k, v in sorted(alone["statuses"].items())), ""),
            ("  rate", alone["requests_per_s"], " req/s"),
        ]
        rows += latency_rows("  latency", alone["latency_s"])
        rows.append(("judged: with every service ÷ intake alone", figures["share_of_alone"], " ×"))
    rows.append(("peak RSS (VmHWM), whole run", "", ""))
    rows += [(f"  {name}", mb, " MiB") for name, mb in figures["peak_rss_mb"].items()]
    return rows
