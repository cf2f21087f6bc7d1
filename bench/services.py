"""The services a benchmark measures: those already answering on their ports are used as they are,
the others are started as processes (`cpnet serve`) and stopped afterwards; and their peak memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cpnet.registry import SERVICE_NAMES, definition_of
from cpnet.runner import ORDINARY_NICE, stop_all
from shared.settings import Settings

# A benchmark sends one principal's writes far faster than any person would, so the services it
# starts get per-principal and per-address limits no benchmark reaches (shared/ratelimit.py).
BENCH_LIMITS = {
    "CPNET_RATE_LIMIT_WRITES_PER_MINUTE": "10000000",
    "CPNET_RATE_LIMIT_ADDRESS_PER_MINUTE": "10000000",
}


class BenchFailed(RuntimeError):
    """A benchmark could not measure what it set out to; the message says why in a few lines."""


class ServiceStartError(BenchFailed):
    """A service the benchmark started exited or never became ready; the message ends with its log."""


@dataclass(frozen=True)
class RunningService:
    name: str
    url: str
    pid: int | None  # None when the process listening on the port cannot be seen from here
    started_here: bool


@dataclass(frozen=True)
class Fleet:
    """The services of one benchmark run, and where the started ones write their logs."""

    services: dict[str, RunningService]
    logs: Path | None

    @property
    def started(self) -> list[str]:
        return [s.name for s in self.services.values() if s.started_here]

    @property
    def limits_note(self) -> str:
        """What a reader must know about the rate limits the figures were measured under."""
        if not self.started:
            return "services already running were used with their own rate limits"
        raised = ", ".join(f"{k}={v}" for k, v in BENCH_LIMITS.items())
        return f"started here ({', '.join(self.started)}) with rate limits raised: {raised}"


def answers_as(url: str, name: str) -> bool:
    try:
        response = httpx.get(f"{url}/readyz", timeout=1.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("service") == name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_pid(port: int) -> int | None:
    """The process listening on a local TCP port, found through /proc (no psutil)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in wanted for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    return None


def peak_rss_mb(pid: int | None) -> float | None:
    """The process's peak resident memory (VmHWM) in MiB, since it started."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return int(line.split()[1]) / 1024 if line else None


_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces


def cpu_seconds(pid: int | None) -> float | None:
    """The CPU time (user + system) a process has used since it started, from /proc/PID/stat."""
    fields = None if pid is None else _stat_fields(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


def command_cpu_seconds(command: str) -> float:
    """CPU time of every process of one command name (`postgres`, `java`), with what their ended
    children used: a PostgreSQL backend that ended is counted in its postmaster's children's time."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != command:
                continue
        except OSError:
            continue
        fields = _stat_fields(proc.name)
        if fields is not None:
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / _TICKS_PER_S


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (every core; not idle nor waiting), from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / _TICKS_PER_S


# The other processes a benchmark's figures depend on, by command name.
_OTHERS = {"PostgreSQL": "postgres", "Kafka broker": "java"}


class CpuUse:
    """CPU seconds each service, PostgreSQL, the broker, the benchmark itself and the whole machine
    spend between start() and stop()."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._before: dict[str, float | None] = {}

    def _now(self) -> dict[str, float | None]:
        now: dict[str, float | None] = {s.name: cpu_seconds(s.pid) for s in self._fleet.services.values()}
        now |= {label: command_cpu_seconds(command) for label, command in _OTHERS.items()}
        times = os.times()
        now["this benchmark"] = times.user + times.system
        now["whole machine"] = machine_busy_seconds()
        return now

    def start(self) -> None:
        self._before = self._now()

    def stop(self, per: int) -> dict[str, float | None]:
        """Milliseconds of CPU per unit of work (`per` units): each service, PostgreSQL, the broker,
        this benchmark, whatever else ran, and the whole machine."""
        now = self._now()
        used = {
            name: None if value is None or self._before.get(name) is None else value - self._before[name]
            for name, value in now.items()
        }
        machine = used.pop("whole machine") or 0.0
        used["anything else"] = machine - sum(v for v in used.values() if v is not None)
        used["whole machine"] = machine
        return {name: None if v is None else 1000 * v / max(1, per) for name, v in used.items()}


def _migrate(env: dict[str, str]) -> None:
    for command in (["db", "upgrade"], ["topics", "create"]):
        done = subprocess.run(
            [sys.executable, "-m", "cpnet.cli", *command],
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise ServiceStartError(f"cpnet {' '.join(command)} failed: {done.stderr.strip()[-500:]}")


def _start(name: str, env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, RunningService]:
    """`cpnet serve NAME` on a free port, writing to `log_path`; `env` keeps the port, so the
    services started after it know where it answers."""
    port = _free_port()
    env[f"CPNET_{name.upper()}_PORT"] = str(port)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cpnet.cli", "serve", name], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return process, RunningService(name, f"http://127.0.0.1:{port}", process.pid, started_here=True)


def _wait_ready(started: dict[str, tuple[subprocess.Popen, RunningService, Path]], within_s: float) -> None:
    """Until each started process answers as its service; ServiceStartError with its log if one
    exits or is not ready in time."""
    deadline = time.monotonic() + within_s
    for label, (process, service, log_path) in started.items():
        while not answers_as(service.url, service.name):
            log_tail = log_path.read_text(errors="replace")[-1500:]
            if process.poll() is not None:
                raise ServiceStartError(f"{label} exited while starting:\n{log_tail}")
            if time.monotonic() > deadline:
                raise ServiceStartError(f"{label} not ready within {within_s:.0f} s:\n{log_tail}")
            time.sleep(0.2)


@contextmanager
def instances_of(name: str, count: int, *, ready_within_s: float = 90) -> Iterator[list[RunningService]]:
    """`count` instances of one service, each on a port of its own, in one consumer group: started
    here, answering, and stopped on exit (the schema is expected migrated)."""
    logs = Path(tempfile.mkdtemp(prefix=f"cpnet-bench-{name}-"))
    env = {**os.environ, **BENCH_LIMITS, "CPNET_LOG_FORMAT": "json"}
    started: dict[str, tuple[subprocess.Popen, RunningService, Path]] = {}
    try:
        for i in range(1, count + 1):
            log_path = logs / f"{name}-{i}.log"
            started[f"{name} #{i}"] = (*_start(name, env, log_path), log_path)
        _wait_ready(started, ready_within_s)
        yield [service for _, service, _ in started.values()]
    finally:
        stop_all([process for process, _, _ in started.values()], timeout=30)


@contextmanager
def services_running(
    settings: Settings, names: list[str], *, ready_within_s: float = 90, env: dict[str, str] | None = None
) -> Iterator[Fleet]:
    """Every named service answering: reused when it already answers on its configured port,
    else started here on a free port with `env` besides (and stopped on exit)."""
    found: dict[str, RunningService] = {}
    missing = []
    for name in names:
        port = settings.port_of(name)
        url = f"http://127.0.0.1:{port}"
        if answers_as(url, name):
            found[name] = RunningService(name, url, listening_pid(port), started_here=False)
        else:
            missing.append(name)
    if not missing:
        yield Fleet(found, logs=None)
        return
    logs = Path(tempfile.mkdtemp(prefix="cpnet-bench-"))
    env = {**os.environ, **BENCH_LIMITS, "CPNET_LOG_FORMAT": "json", **(env or {})}
    _migrate(env)
    started: dict[str, tuple[subprocess.Popen, RunningService, Path]] = {}
    try:
        for name in missing:
            started |= _start_lanes(name, env, logs)
            found[name] = started[name][1]
        _wait_ready(started, ready_within_s)
        yield Fleet(dict(sorted(found.items(), key=lambda item: names.index(item[0]))), logs=logs)
    finally:
        # The same interrupt-then-kill that `cpnet run` gives its children.
        stop_all([process for process, _, _ in started.values()], timeout=30)


def _start_lanes(
    name: str, env: dict[str, str], logs: Path
) -> dict[str, tuple[subprocess.Popen, RunningService, Path]]:
    """A service as `cpnet run` starts it: a service with urgent lanes as two processes, its ordinary
    work and its urgent lanes, the ordinary work of every service at a lower CPU priority
    (cpnet/runner.py `plan_instances`), unless CPNET_LANES=both keeps them in one process each at
    one priority (to compare); `env` learns the port of its ordinary process."""
    started = {}
    ordinary = env
    # The console, for people, runs as `cpnet run` starts it: at the machine's priority, no lanes.
    split = env.get("CPNET_LANES") != "both" and name in SERVICE_NAMES
    if split:
        ordinary = {**env, "CPNET_NICE": env.get("CPNET_NICE", str(ORDINARY_NICE))}
    if split and definition_of(name).has_lanes:
        label = f"{name}-urgent"
        urgent = {**env, "CPNET_LANES": "urgent"}
        started[label] = (*_start(name, urgent, logs / f"{label}.log"), logs / f"{label}.log")
        ordinary = {**ordinary, "CPNET_LANES": "ordinary"}
    started[name] = (*_start(name, ordinary, logs / f"{name}.log"), logs / f"{name}.log")
    port = f"CPNET_{name.upper()}_PORT"
    env[port] = ordinary[port]
    return started
