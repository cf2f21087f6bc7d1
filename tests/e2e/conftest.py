"""End-to-end fixtures: the real services as separate processes (`cpnet serve`), on free
ports, against the real stack — exactly as an operator runs them; and, after every test, the
invariants people rely on."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shared.contracts.vocabulary import OPEN_REFERRAL_STATES, OPEN_SERVICE_STATES


@dataclass(frozen=True)
class RunningServices:
    urls: dict[str, str]
    env: dict[str, str]


_GIVEN_PORTS: set[int] = set()


def _free_port() -> int:
    """A port free now and never handed out before in this run: the kernel may offer a port it gave
    a moment ago again, before the service it was meant for has bound it, and two services would then
    be told the same port (one exits, and its URL answers with the other's routes)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def instances(
    names: list[str], env: dict[str, str], logs: Path, *, count: int = 1, ready_within_s: float = 60
) -> Iterator[dict[str, tuple[str, subprocess.Popen]]]:
    """`count` processes of each named service (`cpnet serve`), each on a free port and writing
    its log to `logs/<label>.log`; yields each one's URL and process by label (`intake`, and
    `intake#2`… for the others) once all are ready, then stops them as a process supervisor does.
    The first instance's port is added to `env`, so the services started after it can reach it."""
    processes: dict[str, subprocess.Popen] = {}
    urls = {}
    try:
        for name in names:
            for k in range(1, count + 1):
                label = name if k == 1 else f"{name}#{k}"
                port = _free_port()
                urls[label] = f"http://127.0.0.1:{port}"
                own = env if k == 1 else {**env}
                own[f"CPNET_{name.upper()}_PORT"] = str(port)
                processes[label] = subprocess.Popen(
                    [sys.executable, "-m", "cpnet.cli", "serve", name],
                    env=own,
                    stdout=open(logs / f"{label}.log", "wb"),
                    stderr=subprocess.STDOUT,
                )
        deadline = time.monotonic() + ready_within_s
        for label, url in urls.items():
            while not _ready(url):
                if processes[label].poll() is not None:
                    raise RuntimeError(f"{label} exited: {(logs / f'{label}.log').read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label} not ready: {(logs / f'{label}.log').read_text()[-2000:]}")
                time.sleep(0.2)
        for label, process in processes.items():
            if process.poll() is not None:  # ready on its port, yet its URL answers for another
                raise RuntimeError(f"{label} exited: {(logs / f'{label}.log').read_text()[-2000:]}")
        yield {label: (urls[label], processes[label]) for label in urls}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # as a process supervisor stops it
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def serving(
    names: list[str], env: dict[str, str], logs: Path, *, ready_within_s: float = 60
) -> Iterator[dict[str, str]]:
    """The named services as processes (`cpnet serve`), each on a free port (added to `env`)
    and writing its log to `logs/<name>.log`; yields their URLs once all are ready, then stops them."""
    with instances(names, env, logs, ready_within_s=ready_within_s) as started:
        yield {label: url for label, (url, _) in started.items()}


def service_env(infra) -> dict[str, str]:
    """The environment of services started against the test stack, its schemas migrated."""
    env = {
        **os.environ,
        "CPNET_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "CPNET_DATABASE_URL": infra.database_url,
        "CPNET_LOG_FORMAT": "json",
        # The tests read the running month's figures just after writing what they count: counted on
        # every asking, not kept for up to two minutes (tests/integration/test_counted.py).
        "CPNET_AUDIT_RUNNING_FRESH_S": "0",
    }
    if infra.database_url not in _MIGRATED:  # once a run: each module's services share the schemas
        subprocess.run(
            [sys.executable, "-m", "cpnet.cli", "db", "upgrade"], env=env, check=True, capture_output=True
        )
        _MIGRATED.add(infra.database_url)
    return env


_MIGRATED: set[str] = set()


@pytest.fixture(scope="module")
def services(infra, tmp_path_factory) -> Iterator[RunningServices]:
    """Every service with its consumers and relay, started once per test module (a module
    that runs services in-process must not share consumer groups with these)."""
    names = ["intake", "assessment", "referral", "followup", "audit", "casework"]
    env = service_env(infra)
    logs = tmp_path_factory.mktemp("service-logs")
    with serving(names, env, logs) as urls:
        yield RunningServices(urls=urls, env=env)


# ---- invariants people rely on, checked after every end-to-end test -----------------------------

SESSION_STARTED = datetime.now(UTC)
# A closed case that holds an open referral, among the cases this run closed. Referral withdraws
# what a case closed meanwhile still holds (a race with a late grade), so it must clear in moments.
CLOSED_WITH_OPEN_REFERRALS = """
    SELECT c.case_id, r.agency, r.state FROM casework.cases c
    JOIN referral.referrals r ON r.case_id = c.case_id
    WHERE c.state = 'closed' AND c.closed_at >= $1
    AND r.state = ANY($2::text[])"""
# A closed case that still owes a service of its plan: referral withdraws what a closure finds open.
CLOSED_WITH_OPEN_SERVICES = """
    SELECT c.case_id, s.kind, s.state FROM casework.cases c
    JOIN referral.services s ON s.case_id = c.case_id
    WHERE c.state = 'closed' AND c.closed_at >= $1
    AND s.state = ANY($2::text[])"""
# A closed case whose visit plan is still open (follow-up hears closures): visits would fall due and be
# announced as missed for a child nobody works on any more.
CLOSED_WITH_OPEN_PLAN = """
    SELECT c.case_id FROM casework.cases c JOIN followup.plans p ON p.case_id = c.case_id
    WHERE c.state = 'closed' AND c.closed_at >= $1 AND p.state = 'open'"""
VISITS_IN_THE_FUTURE = """
    SELECT case_id, visited_at FROM followup.visits WHERE visited_at > now() + interval '5 minutes'"""


async def _violations(database_url: str) -> list[str]:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    connection = await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port, database=url.database
    )
    try:
        found = []
        tables = await connection.fetchval(
            "SELECT to_regclass('casework.cases') IS NOT NULL "
            "AND to_regclass('referral.referrals') IS NOT NULL"
        )
        if tables:
            found += [
                f"closed case {row['case_id']} holds an open referral to {row['agency']} ({row['state']})"
                for row in await connection.fetch(
                    CLOSED_WITH_OPEN_REFERRALS, SESSION_STARTED, sorted(s.value for s in OPEN_REFERRAL_STATES)
                )
            ]
        if tables and await connection.fetchval("SELECT to_regclass('referral.services') IS NOT NULL"):
            found += [
                f"closed case {row['case_id']} still owes a service: {row['kind']} ({row['state']})"
                for row in await connection.fetch(
                    CLOSED_WITH_OPEN_SERVICES, SESSION_STARTED, sorted(s.value for s in OPEN_SERVICE_STATES)
                )
            ]
        if tables and await connection.fetchval("SELECT to_regclass('followup.plans') IS NOT NULL"):
            found += [
                f"closed case {row['case_id']} keeps an open visit plan"
                for row in await connection.fetch(CLOSED_WITH_OPEN_PLAN, SESSION_STARTED)
            ]
        if await connection.fetchval("SELECT to_regclass('followup.visits') IS NOT NULL"):
            found += [
                f"case {row['case_id']} has a visit dated {row['visited_at']}, in the future"
                for row in await connection.fetch(VISITS_IN_THE_FUTURE)
            ]
        return found
    finally:
        await connection.close()


async def _eventual_violations(database_url: str) -> list[str]:
    for _ in range(100):  # what is eventually true, within moments
        violations = await _violations(database_url)
        if not violations:
            return []
        await asyncio.sleep(0.1)
    return violations


@pytest.fixture(autouse=True)
def invariants_hold(infra) -> Iterator[None]:
    """After every test: no closed case keeps an open referral or visit plan, nothing is dated in the future.
    Checked on a thread of its own: a test may be async (pytest's loop) or drive a browser (its own)."""
    yield
    with ThreadPoolExecutor(1) as pool:
        violations = pool.submit(asyncio.run, _eventual_violations(infra.database_url)).result()
    assert not violations, "an invariant people rely on does not hold:\n" + "\n".join(violations)
