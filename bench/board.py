"""The board benchmark: the console's board (`GET /board`) as a signed-in supervisor sees it, over N cases
— the whole city's open cases, the unassigned ones, the red and overdue ones — timed from the
request to the last byte of the page, so it counts the console's reads of casework (the list and
the counts), its own lookups and the rendering. The cases are written straight into casework's
table as the worklist benchmark writes them, measured, and deleted again; so is the supervisor.
Prints figures; asserts nothing."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.figures import latency_rows, percentiles
from bench.services import Fleet
from bench.worklist import _cases, _insert, delete_cases, slowest_p95
from services.console import tables as console_tables
from services.console.users import add_user
from shared.sample_reports import villages
from shared.settings import Settings
from shared.territory.registry import load_territory

PASSWORD = "the board benchmark's password"
PAGES = {
    "the city's open cases": "/board",
    "unassigned": "/board?owner=unassigned",
    "red, overdue": "/board?grade=red&overdue=true",
}


def _signed_in(http: httpx.Client, username: str) -> None:
    form = http.get("/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
    answer = http.post("/sign-in", data={"username": username, "password": PASSWORD, "csrf_token": csrf})
    if answer.status_code != 303:
        raise RuntimeError(f"the benchmark's supervisor could not sign in: {answer.status_code}")


def _timed(http: httpx.Client, path: str, times: int) -> tuple[list[float], int]:
    latencies, size = [], 0
    for _ in range(times):
        started = time.perf_counter()
        answer = http.get(path)
        latencies.append(time.perf_counter() - started)
        answer.raise_for_status()
        size = len(answer.content)
    return latencies, size


async def run_board(
    settings: Settings, fleet: Fleet, *, cases: int, queries: int, seed: int, say: Callable[[str], None]
) -> dict[str, Any]:
    rng = random.Random(seed)
    rows = _cases(cases, villages(load_territory()), datetime.now(UTC), rng)
    engine = create_async_engine(settings.database_url)
    username = f"bench-board-{rng.randrange(10**9)}"
    figures: dict[str, Any] = {"cases": cases, "queries_per_page": queries, "latency_s": {}, "bytes": {}}
    try:
        say(f"writing {cases:,} cases into casework.cases …")
        await _insert(engine, rows)
        async with engine.begin() as connection:
            await add_user(
                connection,
                username,
                PASSWORD,
                role="supervisor",
                agency=None,
                jurisdiction="1404",
                now=datetime.now(UTC),
            )
            figures["cases_in_table"] = await connection.scalar(text("SELECT count(*) FROM casework.cases"))
        with httpx.Client(
            base_url=fleet.services["console"].url, timeout=30.0, follow_redirects=False
        ) as http:
            _signed_in(http, username)
            for path in PAGES.values():  # warm: plans cached, templates compiled
                _timed(http, path, 3)
            for label, path in PAGES.items():
                latencies, size = _timed(http, path, queries)
                figures["latency_s"][label] = percentiles(latencies)
                figures["bytes"][label] = size
    finally:
        async with engine.begin() as connection:
            await delete_cases(connection, rows)
            await connection.execute(
                delete(console_tables.users).where(console_tables.users.c.username == username)
            )
        await engine.dispose()
    figures["all_p95_s"] = slowest_p95(figures)
    return figures


def table_rows(figures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    rows: list[tuple[str, Any, str]] = [
        ("cases written", figures["cases"], ""),
        ("cases in the table", figures["cases_in_table"], ""),
        ("slowest p95 of any board", figures["all_p95_s"], " s"),
    ]
    for label, latency in figures["latency_s"].items():
        rows.append((label, "", ""))
        rows.append(("  page size", figures["bytes"][label], " B"))
        rows += latency_rows("  GET (the board)", latency)
    return rows


__all__ = ["run_board", "table_rows"]
