"""The indicators benchmark: audit's bulletin (`GET /v1/bulletins/{node}/{month}`, every figure of a node
and month with the ledger's heads) over N cases spread across the twelve months before this one — the
city's bulletin for each month, and each county's three latest — timed from the request to the last
byte, as the console asks for it. Two services are timed in turn:

- counted on asking (audit's sweep off, the running month never kept), round after round, the asks told
  apart: the month running (counted each time), a month over asked the first time (counted and kept),
  and asked again (kept); then audit's sweep is timed in-process, keeping every month over and the
  running months from nothing;
- as deployed (a second audit with its settings' defaults: the sweep on, the running month answered
  as counted at most two minutes before), asked over and over for `deployed_s` seconds, so that the
  sweep counting the running months again while readers ask is in the figures.

The cases' happenings (a report, a grade, a referral and its answer, for some a plan, a service and a
closure) are written straight into `audit.happenings`, measured, and deleted again. Prints figures;
asserts nothing."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bench.figures import latency_rows, percentiles
from bench.services import Fleet, services_running
from services.audit import tables as audit_tables
from services.audit.indicators import Happening, Kind, Period
from services.audit.keeper import keep_months, keep_running
from services.audit.ledger import happening_row, insert_happenings
from shared.auth import Role, issue_token
from shared.contracts.vocabulary import CHINA_STANDARD_TIME
from shared.sample_reports import villages
from shared.settings import Settings
from shared.territory.registry import load_territory

TAG = "bench-indicators-"
CHANNELS = ("hotline", "school", "hospital", "village_committee", "police")
GRADES = ("red", "orange", "orange", "blue", "blue", "blue")
AGENCIES = ("police", "education", "civil_affairs", "social_work", "health")
ANSWERS = ("acknowledged", "acknowledged", "completed", "declined", None)
CATEGORIES = ("left_behind", "abuse", "neglect", "begging", "no_guardian", "illness_disability")
CLOSURES = ("risk_resolved", "moved_away", "came_of_age")
# The asks timed: the month running (counted each time; the month before it kept after the first ask), a
# month over asked the first time (it and the month before counted, then kept), asked again (kept).
ASKS = ("the month running", "a month over, first asked", "a month over, asked again", "every ask")
ALL = ASKS[3]
# Audit counting everything on asking: its sweep off, the running month never kept.
COUNTED_ON_ASKING = {"CPNET_AUDIT_KEPT_MONTHS": "0", "CPNET_AUDIT_RUNNING_FRESH_S": "0"}
DEPLOYED = "as deployed (the sweep on)"


def _happening(kind: Kind, case_id: uuid.UUID, at: datetime, n: int, **values) -> dict:
    """One happening as its row of `audit.happenings`."""
    values["categories"] = tuple(values.get("categories", ()))
    return happening_row(
        Happening(event_key=f"{TAG}{case_id}-{n}", case_id=case_id, kind=kind, at=at, **values)
    )


def happenings(
    cases: int, places: list[str], months: list[Period], rng: random.Random
) -> list[dict[str, Any]]:
    """Each case's facts, dated within one of the months (the last month's no later than now)."""
    now = datetime.now(UTC)
    rows = []
    for number in range(cases):
        case_id, place, month = uuid.uuid4(), rng.choice(places), rng.choice(months)
        span = (min(month.end, now) - month.start).total_seconds()
        at = month.start + timedelta(seconds=rng.uniform(0, span * 0.6))
        grade = rng.choice(GRADES)
        made = [
            _happening(
                Kind.reported,
                case_id,
                at,
                0,
                jurisdiction=place,
                code=rng.choice(CHANNELS),
                child_ref=uuid.uuid4(),
                age=rng.choice((None, *range(0, 18))),
                categories=rng.sample(CATEGORIES, rng.choice((1, 1, 2))),
                number=f"{place[:6]}-{month.year}-{number:06d}",
            ),
            _happening(Kind.graded, case_id, at + timedelta(minutes=rng.uniform(1, 600)), 1, code=grade),
        ]
        referral, agency = uuid.uuid4(), rng.choice(AGENCIES)
        sent = at + timedelta(minutes=rng.uniform(2, 700))
        made.append(
            _happening(
                Kind.referred,
                case_id,
                sent,
                2,
                agency=agency,
                ref=referral,
                emergency=grade == "red" and rng.random() < 0.3,
                due_at=sent + timedelta(hours=24 if grade == "red" else 72),
            )
        )
        answer = rng.choice(ANSWERS)
        if answer:
            made.append(
                _happening(
                    Kind.referral_changed,
                    case_id,
                    sent + timedelta(hours=rng.uniform(0.5, 90)),
                    3,
                    code=answer,
                    agency=agency,
                    ref=referral,
                    reason="not_our_duty" if answer == "declined" else None,
                )
            )
        if rng.random() < 0.5:
            made.append(_happening(Kind.planned, case_id, at + timedelta(days=rng.uniform(1, 12)), 4))
        if rng.random() < 0.25:
            made.append(
                _happening(
                    Kind.closed,
                    case_id,
                    at + timedelta(days=rng.uniform(5, 20)),
                    5,
                    code=rng.choice(CLOSURES),
                )
            )
        rows += [row for row in made if row["at"] <= now]
    return rows


async def _insert(engine, rows: list[dict[str, Any]], *, batch: int = 20_000) -> None:
    async with engine.begin() as connection:
        for start in range(0, len(rows), batch):
            await insert_happenings(connection, rows[start : start + batch])
    # A year's happenings written at once: the planner is told what the tables now hold, as autovacuum
    # would tell it of a year's growth, before anything is timed.
    async with engine.begin() as connection:
        for table in ("happenings", "case_spans", "referral_facts", "service_spans"):
            await connection.execute(text(f"ANALYZE audit.{table}"))


def _timed(http: httpx.Client, path: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    answer = http.get(path, headers=headers)
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    return elapsed


async def run_indicators(
    settings: Settings,
    fleet: Fleet,
    *,
    cases: int,
    rounds: int,
    seed: int,
    say: Callable[[str], None],
    deployed_s: float = 90.0,
) -> dict[str, Any]:
    rng = random.Random(seed)
    territory = load_territory(settings.territory_file)
    city = territory.city.code
    counties = [child.code for child in territory.children(city)]
    this_month = Period.parse(datetime.now(CHINA_STANDARD_TIME).strftime("%Y-%m"))
    months, month = [], this_month
    for _ in range(12):
        months.append(month)
        month = month.before()
    rows = happenings(cases, villages(territory), months, rng)
    token = issue_token(settings, subject="bench-director", role=Role.supervisor, jurisdiction=city[:4])
    headers = {"Authorization": f"Bearer {token}"}
    engine = create_async_engine(settings.database_url)
    asked = {"the city's bulletin": [city], "a county's bulletin": counties}

    def asks(nodes: list[str]) -> list[str]:
        return [
            f"/v1/bulletins/{node}/{month}"
            for node in nodes
            for month in (months if node == city else months[:3])
        ]

    figures: dict[str, Any] = {
        "cases": cases,
        "happenings": len(rows),
        "months": len(months),
        "latency_s": {},
    }
    try:
        say(f"writing {len(rows):,} happenings of {cases:,} cases into audit.happenings …")
        await _insert(engine, rows)
        with httpx.Client(base_url=fleet.services["audit"].url, timeout=120.0) as http:
            # Warmed on a township, so that nothing the timed asks want is kept before they ask.
            township = territory.children(counties[0])[0].code
            _timed(http, f"/v1/bulletins/{township}/{months[0]}", headers)
            for label, nodes in asked.items():
                latencies: dict[str, list[float]] = {kind: [] for kind in ASKS}
                for round_ in range(rounds):
                    for path in asks(nodes):
                        took = _timed(http, path, headers)
                        kind = ASKS[0] if path.endswith(str(months[0])) else ASKS[1 if round_ == 0 else 2]
                        latencies[kind].append(took)
                        latencies[ALL].append(took)
                figures["latency_s"][label] = {kind: percentiles(found) for kind, found in latencies.items()}
                say(f"{label}: p95 {figures['latency_s'][label][ALL]['p95']:.3f} s")
        # Audit's sweep (off in the service timed above), in-process, keeping every month over and the
        # running months from nothing kept.
        async with engine.begin() as connection:
            await connection.execute(delete(audit_tables.kept_periods))
            await connection.execute(delete(audit_tables.running_bulletins))
        sessions = async_sessionmaker(engine)
        started = time.perf_counter()
        kept = await keep_months(sessions, territory, datetime.now(UTC), 12, budget_s=3600)
        figures["keeper"] = {"periods": kept, "seconds": time.perf_counter() - started}
        started = time.perf_counter()
        figures["keeper"]["running"] = await keep_running(sessions, territory, refresh_s=0)
        figures["keeper"]["running_seconds"] = time.perf_counter() - started
        say(f"the keeper counted {kept} months over in {figures['keeper']['seconds']:.1f} s")
        figures["latency_s"] |= _as_deployed(settings, asks, asked, months[0], headers, deployed_s)
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                delete(audit_tables.happenings).where(audit_tables.happenings.c.event_key.startswith(TAG))
            )
            await connection.execute(delete(audit_tables.running_bulletins))
        await engine.dispose()
    return figures


def _as_deployed(
    settings: Settings,
    asks: Callable[[list[str]], list[str]],
    asked: dict[str, list[str]],
    running: Period,
    headers: dict[str, str],
    seconds: float,
) -> dict[str, dict[str, Any]]:
    """Every bulletin asked of an audit with its settings' defaults (the sweep on) for `seconds`, the
    asks of the city and of the counties in turn."""
    latencies = {label: {kind: [] for kind in (ASKS[0], "a month over", ALL)} for label in asked}
    with services_running(settings, ["audit"]) as deployed:
        with httpx.Client(base_url=deployed.services["audit"].url, timeout=120.0) as http:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                for label, nodes in asked.items():
                    for path in asks(nodes):
                        took = _timed(http, path, headers)
                        latencies[label][ASKS[0] if path.endswith(str(running)) else "a month over"].append(
                            took
                        )
                        latencies[label][ALL].append(took)
    return {
        f"{label}, {DEPLOYED}": {kind: percentiles(found) for kind, found in kinds.items()}
        for label, kinds in latencies.items()
    }


def table_rows(figures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    rows: list[tuple[str, Any, str]] = [
        ("cases written", figures["cases"], ""),
        ("their happenings", figures["happenings"], ""),
        ("months they span", figures["months"], ""),
    ]
    if "keeper" in figures:
        keeper = figures["keeper"]
        rows.append(("months over kept by audit's sweep, from none", keeper["periods"], ""))
        rows.append(("  in", keeper["seconds"], " s"))
        rows.append(
            ("running months counted by audit's sweep (the city, each county)", keeper["running"], "")
        )
        rows.append(("  in", keeper["running_seconds"], " s"))
    for label, kinds in figures["latency_s"].items():
        for kind, latency in kinds.items():
            rows.append((f"{label}: {kind}", "", ""))
            rows += latency_rows("  GET /v1/bulletins", latency)
    return rows


__all__ = ["run_indicators", "table_rows"]
