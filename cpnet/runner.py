"""`cpnet run`: the whole system in one terminal — the stack, migrations and one process per
service (or N per service with `--instances N`), each restarted with back-off when it dies —
stopped together by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import typer

from cpnet.registry import definition_of, migrated_schemas, upgrade
from cpnet.restarts import GiveUp, Restart, RestartPolicy, Run, decide
from shared.errors import ConfigurationError
from shared.health import require_database, require_kafka
from shared.messaging.admin import ensure_topics
from shared.messaging.security import client_security
from shared.settings import Settings

# How often the supervisor looks at its children: also how long Ctrl-C may wait to be noticed.
SUPERVISE_INTERVAL_S = 0.25
# 1 s, 2 s, 4 s… up to 30 s; a minute up forgives; five crashes in five minutes stop everything.
RESTART_POLICY = RestartPolicy()
# Instance k of a service listens on its port + (k - 1) times this: intake 8001, 8101, 8201…
INSTANCE_PORT_STEP = 100
# A service's urgent lanes run in a process of their own, on its port + this: intake-urgent 8051.
URGENT_PORT_OFFSET = 50
# ...at the runner's CPU priority, and every service's ordinary work this much lower (settings.nice).
ORDINARY_NICE = 5


@dataclass(frozen=True)
class Instance:
    """One process `cpnet run` starts: `label` names it in what the runner prints ("intake",
    "intake#2"), `name` is the service it serves, `port` the HTTP port it listens on, `number`
    which instance of the service it is (from 1; 0 for the process of its urgent lanes), `lanes`
    which of its lanes it runs (settings.lanes)."""

    label: str
    name: str
    port: int
    number: int = 1
    lanes: str = "both"
    nice: int = 0


def plan_instances(
    services: list[str],
    count: int,
    port_of: Callable[[str], int],
    has_lanes: Callable[[str], bool] = lambda name: False,
) -> list[Instance]:
    """`count` instances of each service, then the console, one and last (people sign in once
    the services it reads are up). Instance 1 keeps the service's port and plain name; instance k
    listens on that port + INSTANCE_PORT_STEP * (k - 1). All instances of a service share its
    consumer groups, so Kafka splits the partitions of its topics among them.

    A service that `has_lanes` (urgent lanes: shared/service.py `Consumes.urgent`) runs them in one
    process more, `<name>-urgent` on its port + URGENT_PORT_OFFSET, and its instances the rest: an
    emergency is then read, decided and published by a process the crowd's batches never hold up;
    and every service's ordinary work runs ORDINARY_NICE lower, so the machine serves those first."""
    if count < 1:
        raise ConfigurationError(f"--instances must be at least 1, not {count}")
    planned = []
    nice = ORDINARY_NICE if any(has_lanes(name) for name in services) else 0
    for name in services:
        split = has_lanes(name)
        planned += [
            Instance(
                label=name if k == 1 else f"{name}#{k}",
                name=name,
                port=port_of(name) + INSTANCE_PORT_STEP * (k - 1),
                number=k,
                lanes="ordinary" if split else "both",
                nice=nice,
            )
            for k in range(1, count + 1)
        ]
        if split:
            urgent = port_of(name) + URGENT_PORT_OFFSET
            planned.append(Instance(label=f"{name}-urgent", name=name, port=urgent, number=0, lanes="urgent"))
    planned.append(Instance(label="console", name="console", port=port_of("console")))
    # The ports a plain `cpnet run` uses are the operator's; only the added processes' are checked.
    taken = {instance.port: instance.label for instance in planned if instance.number == 1}
    for instance in (instance for instance in planned if instance.number != 1):
        if instance.port > 65535:
            raise ConfigurationError(
                f"{instance.label} would listen on port {instance.port}, beyond 65535: "
                f"fewer --instances, or a lower CPNET_{instance.name.upper()}_PORT"
            )
        if instance.port in taken:
            raise ConfigurationError(
                f"{instance.label} and {taken[instance.port]} would both listen on port {instance.port}: "
                f"fewer --instances, or other CPNET_<SERVICE>_PORT values"
            )
        taken[instance.port] = instance.label
    return planned


def instance_env(instance: Instance, base: dict[str, str]) -> dict[str, str]:
    """The environment of one instance's process: `base` as it is for the first instance of a
    service (it listens on the service's own port); for the others, their port in
    CPNET_<NAME>_PORT, which `cpnet serve` listens on; the lanes it runs in CPNET_LANES, and its
    CPU priority in CPNET_NICE."""
    env = base
    if instance.number != 1:
        env = {**env, f"CPNET_{instance.name.upper()}_PORT": str(instance.port)}
    if instance.lanes != "both":
        env = {**env, "CPNET_LANES": instance.lanes}
    if instance.nice:
        env = {**env, "CPNET_NICE": str(instance.nice)}
    return env


def run_all(settings: Settings, services: list[str], *, with_stack: bool, instances: int = 1) -> int:
    from cpnet.stack import Stack

    planned = plan_instances(
        services, instances, settings.port_of, lambda name: definition_of(name).has_lanes
    )
    stack = Stack(settings)
    started_stack = False
    if with_stack:
        started_stack = stack.kafka.pid() is None or stack.postgres.pid() is None
        stack.up()
    asyncio.run(require_database(settings.database_url))
    security = client_security(settings)
    asyncio.run(require_kafka(settings.kafka_bootstrap, security=security))
    ensure_topics(settings.kafka_bootstrap, security=security)
    for name in migrated_schemas(services):
        upgrade(name, settings.database_url)
    if settings.environment == "development":
        _announce_demo_people(settings)
    stop = _StopRequest(signal.SIGINT, signal.SIGTERM)
    env = os.environ.copy()
    # The console last: people sign in once the services it reads are up.
    supervised = {
        instance.label: _Supervised(
            instance.name,
            instance_env(instance, env),
            label=instance.label,
            port=instance.port,
        )
        for instance in planned
    }
    for service in supervised.values():
        service.start()
        _announce(service, settings)
    typer.echo("cpnet is running; Ctrl-C stops everything.")
    try:
        code = _supervise(supervised, stop, RESTART_POLICY, settings)
    finally:
        stop_all([s.process for s in supervised.values() if s.process is not None])
        if started_stack:
            stopped = stack.down()
            typer.echo("stopped " + ", ".join(stopped))
    return code


def _announce_demo_people(settings: Settings) -> None:
    """Development only: the console's demonstration people, added if missing, and how to sign in."""
    from datetime import UTC, datetime

    from services.console.accounts import DEMO_PASSWORD
    from services.console.demo import ensure_demo_people
    from shared.db.engine import make_engine

    async def ensure() -> list[tuple[str, str, str]]:
        engine = make_engine(settings.database_url)
        try:
            async with engine.begin() as connection:
                return await ensure_demo_people(connection, now=datetime.now(UTC))
        finally:
            await engine.dispose()

    people = asyncio.run(ensure())
    typer.echo(
        f"console: http://{settings.http_host}:{settings.console_port}  demonstration people "
        f"(password {DEMO_PASSWORD}, development only):"
    )
    for username, role, territory in people:
        typer.echo(f"  {username:<11} {role:<25} {territory}")


class _StopRequest:
    """Ctrl-C and a polite `kill` both stop everything (SIGINT may arrive ignored when the
    command was started in the background). The handler only sets a flag the supervisor reads
    between rounds, so a signal never lands half-way through starting or stopping a process."""

    def __init__(self, *signals: signal.Signals) -> None:
        self.requested = False
        for sig in signals:
            signal.signal(sig, self._request)

    def _request(self, signum, frame) -> None:
        self.requested = True


@dataclass
class _Supervised:
    """One instance of a service: its current process, its past runs, and when it is due to start
    again. `label` names it ("intake#2"; the service's name for its first instance)."""

    name: str
    env: dict[str, str]
    label: str = ""
    port: int | None = None
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    runs: list[Run] = field(default_factory=list)
    restart_at: float | None = None

    def __post_init__(self) -> None:
        self.label = self.label or self.name

    def start(self) -> None:
        # Each service is its own process, as in production; they share this terminal's output.
        # Its own session: the terminal's Ctrl-C reaches only the runner, which stops them in order.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cpnet.cli", "serve", self.name], env=self.env, start_new_session=True
        )
        self.started_at = time.monotonic()
        self.restart_at = None


def _announce(service: _Supervised, settings: Settings) -> None:
    port = settings.port_of(service.name) if service.port is None else service.port
    url = f"http://{settings.http_host}:{port}"
    typer.echo(f"{service.label}: {url}  (pid {service.process.pid})")


def _supervise(
    services: dict[str, _Supervised], stop: _StopRequest, policy: RestartPolicy, settings: Settings
) -> int:
    """Restart each service that dies, after its back-off, until Ctrl-C (0) or until one keeps
    crashing (1: a system missing a service for good would mislead)."""
    while not stop.requested:
        now = time.monotonic()
        for service in services.values():
            if service.restart_at is not None and now >= service.restart_at:
                service.start()
                _announce(service, settings)
            elif service.restart_at is None and service.process.poll() is not None:
                if isinstance(_after_exit(service, now, policy), GiveUp):
                    return 1
        time.sleep(SUPERVISE_INTERVAL_S)
    typer.echo("stopping…")
    return 0


def _after_exit(service: _Supervised, now: float, policy: RestartPolicy) -> Restart | GiveUp:
    """Record the run that ended, decide, and say so in one line."""
    code = service.process.returncode
    service.runs.append(Run(started_at=service.started_at, ended_at=now))
    decision = decide(service.runs, policy)
    if isinstance(decision, GiveUp):
        typer.echo(
            f"cpnet: error: service {service.label} exited with code {code}, "
            f"{decision.crashes} times within {decision.window_s:g} s; stopping everything",
            err=True,
        )
    else:
        typer.echo(
            f"cpnet: {service.label} exited with code {code}; "
            f"restarting in {decision.delay_s:g} s (restart {decision.number})"
        )
        service.restart_at = now + decision.delay_s
    return decision


def stop_all(children: list[subprocess.Popen], timeout: float = 20.0) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
