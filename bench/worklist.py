"""The worklist benchmark: `GET /v1/cases` over N cases, as the people who use it ask — a county
supervisor's red and overdue cases, the city's unassigned ones, a caseworker's own, a township's
orange cases in monitoring, abuse cases with open referrals, and twenty pages deep into the city's
list. The cases are written straight into casework's table (spread over every village of the
registry, with realistic grades, stages, owners and due dates), measured, and deleted again.
Prints figures; asserts nothing."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.figures import latency_rows, percentiles
from bench.services import Fleet
from services.casework.decide import URGENCY, station_of
from shared.auth import Role, issue_token
from shared.contracts.vocabulary import Category, RiskLevel, Stage
from shared.sample_reports import villages
from shared.settings import Settings
from shared.territory.registry import load_territory

CITY = "1404"
CASEWORKERS = 200
STAGES = [Stage.written_review, Stage.needs_assessment, Stage.plan, Stage.services, Stage.monitoring]
COLUMNS = (
    "case_id",
    "child_ref",
    "jurisdiction",
    "categories",
    "risk_level",
    "initial_risk_level",
    "stage",
    "state",
    "owner_node",
    "owner_ref",
    "open_referrals",
    "pending_approvals",
    "next_due_at",
    "next_due_kind",
    "urgency",
    "sort_due_at",
    "last_activity_at",
)
TYPES = (
    "uuid",
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "integer",
    "integer",
    "timestamptz",
    "text",
    "smallint",
    "timestamptz",
    "timestamptz",
)
INSERT = text(
    f"INSERT INTO casework.cases ({', '.join(COLUMNS)}) SELECT "
    + ", ".join(
        "string_to_array(c3, ',')" if name == "categories" else f"c{i}" for i, name in enumerate(COLUMNS)
    )
    + " FROM unnest("
    + ", ".join(f"CAST(:c{i} AS {kind}[])" for i, kind in enumerate(TYPES))
    + ") AS u("
    + ", ".join(f"c{i}" for i in range(len(COLUMNS)))
    + ")"
)


def _cases(count: int, places: list[str], now: datetime, rng: random.Random) -> list[tuple]:
    rows = []
    for _ in range(count):
        level = rng.choices([RiskLevel.red, RiskLevel.orange, RiskLevel.blue], weights=[1, 3, 6])[0]
        village = rng.choice(places)
        due = now + timedelta(hours=rng.uniform(-24 * 10, 24 * 30))
        owner = None if rng.random() < 0.3 else f"bench-cw-{rng.randrange(CASEWORKERS)}"
        categories = ",".join(sorted({c.value for c in rng.sample(list(Category), rng.choice([1, 1, 2]))}))
        rows.append(
            (
                uuid.uuid4(),
                uuid.uuid4(),
                village,
                categories,
                level.value,
                level.value,
                rng.choice(STAGES).value,
                "open" if rng.random() < 0.9 else "closed",
                station_of(village),
                owner,
                rng.choice([0, 0, 1, 2, 3]),
                1 if rng.random() < 0.05 else 0,
                due,
                rng.choice(["review", "referral", "visit"]),
                URGENCY[level.value],
                due,
                now - timedelta(hours=rng.uniform(0, 24 * 30)),
            )
        )
    return rows


async def _insert(engine, rows: list[tuple], *, chunk: int = 10_000) -> None:
    for start in range(0, len(rows), chunk):
        columns = list(zip(*rows[start : start + chunk], strict=False))
        async with engine.begin() as connection:
            await connection.execute(INSERT, {f"c{i}": list(values) for i, values in enumerate(columns)})
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE casework.cases"))


async def _timed(http: httpx.AsyncClient, params: dict, headers: dict, times: int) -> tuple[list[float], int]:
    latencies, rows = [], 0
    for _ in range(times):
        started = time.perf_counter()
        answer = await http.get("/v1/cases", params=params, headers=headers)
        latencies.append(time.perf_counter() - started)
        answer.raise_for_status()
        rows = len(answer.json()["cases"])
    return latencies, rows


async def _deep(http: httpx.AsyncClient, headers: dict, pages: int) -> list[float]:
    latencies, after = [], None
    for _ in range(pages):
        started = time.perf_counter()
        answer = await http.get(
            "/v1/cases", params={"limit": 50, **({"after": after} if after else {})}, headers=headers
        )
        latencies.append(time.perf_counter() - started)
        answer.raise_for_status()
        after = answer.json()["next"]
        if after is None:
            break
    return latencies


async def run_worklist(
    settings: Settings, fleet: Fleet, *, cases: int, queries: int, seed: int, say: Callable[[str], None]
) -> dict[str, Any]:
    rng = random.Random(seed)
    places = villages(load_territory())
    county = places[0][:6]
    township = station_of(places[0])[:9]
    now = datetime.now(UTC)
    rows = _cases(cases, places, now, rng)
    engine = create_async_engine(settings.database_url)

    def bearer(role: Role, subject: str, jurisdiction: str) -> dict[str, str]:
        token = issue_token(settings, subject=subject, role=role, jurisdiction=jurisdiction)
        return {"Authorization": f"Bearer {token}"}

    asked = {
        "county supervisor: red, overdue": (
            {"grade": "red", "overdue": "true"},
            bearer(Role.supervisor, "bench-sup", county),
        ),
        "city supervisor: unassigned": ({"owner": "unassigned"}, bearer(Role.supervisor, "bench-sup", CITY)),
        "caseworker: my cases": ({"owner": "me"}, bearer(Role.caseworker, "bench-cw-7", CITY)),
        "township: orange in monitoring": (
            {"territory": township, "grade": "orange", "stage": "monitoring"},
            bearer(Role.supervisor, "bench-sup", CITY),
        ),
        "abuse with open referrals": (
            {"category": "abuse", "open_referrals": "true"},
            bearer(Role.supervisor, "bench-sup", CITY),
        ),
    }
    figures: dict[str, Any] = {"cases": cases, "queries_per_kind": queries, "latency_s": {}, "rows": {}}
    try:
        say(f"writing {cases:,} cases into casework.cases …")
        started = time.perf_counter()
        await _insert(engine, rows)
        figures["insert_s"] = time.perf_counter() - started
        async with engine.connect() as connection:
            figures["cases_in_table"] = await connection.scalar(text("SELECT count(*) FROM casework.cases"))
        async with httpx.AsyncClient(base_url=fleet.services["casework"].url, timeout=30.0) as http:
            for params, headers in asked.values():  # warm: plans cached, pages in memory
                await _timed(http, params, headers, 3)
            for label, (params, headers) in asked.items():
                latencies, found = await _timed(http, params, headers, queries)
                figures["latency_s"][label] = percentiles(latencies)
                figures["rows"][label] = found
            figures["latency_s"]["city list, 20 pages deep"] = percentiles(
                await _deep(http, bearer(Role.supervisor, "bench-sup", CITY), 20)
            )
    finally:
        async with engine.begin() as connection:
            await delete_cases(connection, rows)
        await engine.dispose()
    figures["all_p95_s"] = slowest_p95(figures)
    return figures


async def delete_cases(connection, rows: list[tuple]) -> None:
    """The cases a benchmark wrote, deleted again."""
    await connection.execute(
        text("DELETE FROM casework.cases WHERE case_id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": [row[0] for row in rows]},
    )


def slowest_p95(figures: dict[str, Any]) -> float:
    return max(f["p95"] for f in figures["latency_s"].values() if f["p95"] is not None)


def table_rows(figures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    rows: list[tuple[str, Any, str]] = [
        ("cases written", figures["cases"], ""),
        ("cases in the table", figures["cases_in_table"], ""),
        ("written in", figures["insert_s"], " s"),
        ("slowest p95 of any query", figures["all_p95_s"], " s"),
    ]
    for label, latency in figures["latency_s"].items():
        rows.append((label, "", ""))
        if label in figures["rows"]:
            rows.append(("  rows on the page", figures["rows"][label], ""))
        rows += latency_rows("  GET /v1/cases", latency)
    return rows


__all__ = ["run_worklist", "table_rows"]
