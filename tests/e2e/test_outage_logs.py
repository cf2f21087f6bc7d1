"""An outage costs each service a handful of log lines, not thousands: with the broker killed
for 30 s, and with PostgreSQL stopped for 30 s, every service says once that it lost it and
once that it is back, prints no traceback, and a report sent afterwards still gets graded.

The five services run as processes (`cpnet serve`) against a private stack of their own (a
broker and a PostgreSQL on free ports), since the test stops them; the shared one is untouched.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cpnet.stack import Component, Stack
from shared.settings import Settings
from tests.e2e.conftest import serving
from tests.e2e.reports import hotline_report
from tests.e2e.test_intake_assessment import ASSESSED, REPORTED, graded, kcat_produce
from tests.e2e.watch import TopicWatcher

SERVICES = ["intake", "assessment", "referral", "followup", "audit"]
OUTAGE_S = 30
HANDFUL = 6
CLIENT_LIBRARIES = ("aiokafka", "faststream")


@dataclass
class PrivateStack:
    stack: Stack
    logs: Path

    @property
    def bootstrap(self) -> str:
        return self.stack.settings.kafka_bootstrap

    def log_sizes(self) -> dict[str, int]:
        return {name: (self.logs / f"{name}.log").stat().st_size for name in SERVICES}

    def lines_since(self, marks: dict[str, int]) -> dict[str, list[str]]:
        lines = {}
        for name in SERVICES:
            with open(self.logs / f"{name}.log", "rb") as log:
                log.seek(marks[name])
                lines[name] = log.read().decode("utf-8", "replace").splitlines()
        return lines


def _free_ports(count: int) -> int:
    """The first of `count` consecutive free ports (the broker, its controller, PostgreSQL), below the
    kernel's ephemeral range: a port the kernel hands out may be some client's by the time a server
    binds it."""
    low, _ = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for _ in range(200):
        port = random.randrange(20000, min(low, 32768) - count)
        if all(_bindable(p) for p in range(port, port + count)):
            return port
    raise RuntimeError(f"no {count} free consecutive ports")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory) -> Iterator[PrivateStack]:
    root = tmp_path_factory.mktemp("outage-stack")
    port = _free_ports(3)  # the broker, its controller (the next port), PostgreSQL
    settings = Settings(
        stack_dir=root / "stack",
        kafka_bootstrap=f"127.0.0.1:{port}",
        database_url=f"postgresql+asyncpg://cpnet:cpnet@127.0.0.1:{port + 2}/cpnet",
    )
    stack = Stack(settings)
    env = {
        **os.environ,
        "CPNET_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CPNET_DATABASE_URL": settings.database_url,
        "CPNET_LOG_FORMAT": "json",
        "CPNET_LOG_LEVEL": "INFO",
    }
    logs = root / "logs"
    logs.mkdir()
    try:
        stack.up()
        subprocess.run(
            [sys.executable, "-m", "cpnet.cli", "db", "upgrade"], env=env, check=True, capture_output=True
        )
        with serving(SERVICES, env, logs, ready_within_s=90):
            yield PrivateStack(stack, logs)
    finally:
        stack.down()


def _about_an_outage(line: str) -> bool:
    """A line an operator reads during an outage: a warning or worse, a client library's,
    a traceback, or anything that is not one of our JSON lines."""
    try:
        entry = json.loads(line)
    except ValueError:
        return True
    return (
        entry.get("level") in ("warning", "error", "critical")
        or "exception" in entry
        or str(entry.get("logger", "")).startswith(CLIENT_LIBRARIES)
        or "reachable" in entry.get("event", "")
    )


def _events(lines: list[str]) -> list[str]:
    events = []
    for line in lines:
        try:
            events.append(json.loads(line).get("event", ""))
        except ValueError:
            continue
    return events


async def _stopped(component: Component, sig: signal.Signals) -> None:
    pid = component.pid()
    assert pid is not None, f"the private {component.name} is not running"
    os.kill(pid, sig)
    for _ in range(300):
        if component.pid() is None and not component.port_open():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the private {component.name} did not stop")


async def _each_service_says(
    private: PrivateStack, marks: dict[str, int], event: str, *, timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = private.lines_since(marks)
        if all(event in _events(lines[name]) for name in SERVICES):
            return
        await asyncio.sleep(0.5)
    missing = [name for name, lines in private.lines_since(marks).items() if event not in _events(lines)]
    raise AssertionError(f"{missing} never logged {event!r}")


def _assert_a_handful(private: PrivateStack, marks: dict[str, int], dependency: str) -> None:
    for name, lines in private.lines_since(marks).items():
        about = [line for line in lines if _about_an_outage(line)]
        shown = "\n".join(line[:300] for line in about[:20])
        assert len(about) <= HANDFUL, f"{name} wrote {len(about)} lines about the outage:\n{shown}"
        assert not any("Traceback" in line for line in lines), f"{name} printed a traceback:\n{shown}"
        events = _events(lines)
        assert f"{dependency} unreachable" in events, f"{name} never said it lost {dependency}:\n{shown}"
        assert f"{dependency} reachable again" in events


async def test_a_broker_killed_for_30_s_costs_each_service_a_handful_of_lines(private_stack) -> None:
    marks = private_stack.log_sizes()
    await _stopped(private_stack.stack.kafka, signal.SIGKILL)
    await asyncio.sleep(OUTAGE_S)
    await asyncio.to_thread(private_stack.stack.up)
    await _each_service_says(private_stack, marks, "kafka reachable again")

    async with TopicWatcher(private_stack.bootstrap, [REPORTED, ASSESSED]) as watcher:
        report = hotline_report()
        await asyncio.to_thread(kcat_produce, private_stack.bootstrap, report)
        await graded(watcher, report["external_id"], timeout=60)
    _assert_a_handful(private_stack, marks, "kafka")


async def test_postgresql_stopped_for_30_s_costs_each_service_a_handful_of_lines(private_stack) -> None:
    async with TopicWatcher(private_stack.bootstrap, [REPORTED, ASSESSED]) as watcher:
        marks = private_stack.log_sizes()
        await _stopped(private_stack.stack.postgres, signal.SIGINT)
        # Retried all through the outage: the path that printed a traceback per retry.
        report = hotline_report()
        await asyncio.to_thread(kcat_produce, private_stack.bootstrap, report)
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(private_stack.stack.up)
        await _each_service_says(private_stack, marks, "database reachable again")
        await graded(watcher, report["external_id"], timeout=60)
    _assert_a_handful(private_stack, marks, "database")
