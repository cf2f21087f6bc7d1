"""`cpnet run`: the whole system in one terminal — the stack, migrations and one process per
service — stopped together by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import typer

from shared.db.migrate import upgrade
from shared.health import require_database, require_kafka
from shared.messaging.admin import ensure_topics
from shared.messaging.security import client_security
from shared.settings import Settings


def run_all(settings: Settings, services: list[str], *, with_stack: bool) -> int:
    from cpnet.stack import Stack

    stack = Stack(settings)
    started_stack = False
    if with_stack:
        started_stack = stack.kafka.pid() is None or stack.postgres.pid() is None
        stack.up()
    asyncio.run(require_database(settings.database_url))
    security = client_security(settings)
    asyncio.run(require_kafka(settings.kafka_bootstrap, security=security))
    ensure_topics(settings.kafka_bootstrap, security=security)
    for name in services:
        upgrade(name, settings.database_url)
    _interrupt_on(signal.SIGINT, signal.SIGTERM)
    children = {name: _spawn(name) for name in services}
    for name in services:
        typer.echo(f"{name}: http://{settings.http_host}:{settings.port_of(name)}  (pid {children[name].pid})")
    typer.echo("cpnet is running; Ctrl-C stops everything.")
    code = 0
    try:
        code = _supervise(children)
    except KeyboardInterrupt:
        typer.echo("stopping…")
    finally:
        _stop_all(children)
        if started_stack:
            stopped = stack.down()
            typer.echo("stopped " + ", ".join(stopped))
    return code


def _interrupt_on(*signals: signal.Signals) -> None:
    """Ctrl-C and a polite `kill` both stop everything (SIGINT may arrive ignored when the
    command was started in the background)."""

    def interrupt(signum, frame) -> None:
        raise KeyboardInterrupt

    for sig in signals:
        signal.signal(sig, interrupt)


def _spawn(service: str) -> subprocess.Popen:
    # Each service is its own process, as in production; they share this terminal's output.
    return subprocess.Popen([sys.executable, "-m", "cpnet.cli", "serve", service],
                            env=os.environ.copy(), start_new_session=True)


def _supervise(children: dict[str, subprocess.Popen]) -> int:
    """Wait until a service dies (then stop all: a partial system would mislead)."""
    while True:
        for name, child in children.items():
            if child.poll() is not None:
                typer.echo(f"cpnet: error: service {name} exited with code {child.returncode}", err=True)
                return 1
        time.sleep(0.5)


def _stop_all(children: dict[str, subprocess.Popen], timeout: float = 20.0) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
