"""`cpnet stack up | status | down` on a second, private stack (its own folder and ports),
checked from outside with Debian's kcat and psql, so the shared stack is never touched."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CPNET = str(Path(sys.executable).with_name("cpnet"))


# ---- helpers ---------------------------------------------------------------------------
def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(*, with_next: bool = False, avoid: tuple[int, ...] = ()) -> int:
    """A free port chosen by the kernel; with_next also needs port+1 free (Kafka's controller)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if (
            port + 1 > 65535
            or port in avoid
            or (with_next and (port + 1 in avoid or not _port_free(port + 1)))
        ):
            continue
        return port
    raise RuntimeError("no free port found")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    """Alive and not a zombie (a killed child of ours stays a zombie until reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _cmdlines() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not _alive(int(entry.name)):
            continue
        try:
            found[int(entry.name)] = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
    return found


@dataclass(frozen=True)
class PrivateStack:
    root: Path
    kafka_port: int
    pg_port: int
    pg_dir: Path  # where the stack keeps PostgreSQL (maybe relocated under /var/tmp)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CPNET_")}
        env.update(
            CPNET_STACK_DIR=str(self.root),
            CPNET_KAFKA_BOOTSTRAP=self.bootstrap,
            CPNET_DATABASE_URL=f"postgresql+asyncpg://cpnet:cpnet@127.0.0.1:{self.pg_port}/cpnet",
        )
        return env

    def cpnet(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([CPNET, *args], env=self.env, capture_output=True, text=True, timeout=timeout)


def _private_stack(tmp_path: Path) -> PrivateStack:
    from cpnet.stack import Stack
    from shared.settings import Settings

    root = tmp_path / "stack"
    kafka_port = _free_port(with_next=True, avoid=(9092, 9093, 5432))
    pg_port = _free_port(avoid=(9092, 9093, 5432, kafka_port, kafka_port + 1))
    stack = PrivateStack(root.resolve(), kafka_port, pg_port, Path("/nonexistent"))
    # The stack's own view of where PostgreSQL lives (it relocates folders the postgres
    # user cannot reach), so the test can look for it and clean it up.
    pg_dir = Stack(
        Settings(
            stack_dir=root, kafka_bootstrap=stack.bootstrap, database_url=stack.env["CPNET_DATABASE_URL"]
        )
    ).pg_dir
    return PrivateStack(stack.root, kafka_port, pg_port, pg_dir)


def _pids_from_status(output: str) -> dict[str, int]:
    pids = {}
    for line in output.splitlines():
        name, _, state = line.partition(": ")
        words = state.split()
        if words[:2] == ["running", "pid"]:
            pids[name] = int(words[2])
    return pids


def _kcat(*args: str, input: str | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["kcat", *args], input=input, capture_output=True, text=True, timeout=timeout)


# ---- the lifecycle of a private stack --------------------------------------------------
@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[PrivateStack]:
    stack = _private_stack(tmp_path)
    try:
        yield stack
    finally:
        stack.cpnet("stack", "down")  # never leave a broker or cluster behind
        if stack.pg_dir != stack.root / "postgres":
            shutil.rmtree(stack.pg_dir, ignore_errors=True)


def test_private_stack_up_status_down(private_stack: PrivateStack) -> None:
    s = private_stack
    up = s.cpnet("stack", "up")
    assert up.returncode == 0, up.stderr
    pids = _pids_from_status(up.stdout)
    assert set(pids) == {"kafka", "postgres"}, up.stdout
    assert all(_alive(pid) for pid in pids.values())

    # The broker answers an independent client, as broker 1 on the configured port.
    meta = _kcat("-b", s.bootstrap, "-L")
    assert meta.returncode == 0, meta.stderr
    assert f"broker 1 at 127.0.0.1:{s.kafka_port}" in meta.stdout
    assert 'topic "case.reported"' in meta.stdout  # `stack up` created the registry's topics

    # A message goes in and comes back out.
    key, value = "case-42", f"probe-{time.time_ns()}"
    produced = _kcat("-P", "-b", s.bootstrap, "-t", "case.reported", "-k", key, input=value + "\n")
    assert produced.returncode == 0, produced.stderr
    consumed = _kcat(
        "-C", "-b", s.bootstrap, "-t", "case.reported", "-o", "beginning", "-c", "1", "-e", "-f", "%k|%s\n"
    )
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.strip() == f"{key}|{value}"

    # PostgreSQL takes the application role's password on TCP.
    psql = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(s.pg_port), "-U", "cpnet", "-Atc", "select 1", "cpnet"],
        env={**os.environ, "PGPASSWORD": "cpnet"},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert psql.returncode == 0, psql.stderr
    assert psql.stdout.strip() == "1"

    # `stack up` again is a no-op that keeps the very same processes.
    again = s.cpnet("stack", "up")
    assert again.returncode == 0, again.stderr
    assert _pids_from_status(again.stdout) == pids
    assert int((s.root / "kafka" / "kafka.pid").read_text()) == pids["kafka"]
    assert int((s.pg_dir / "postgres.pid").read_text()) == pids["postgres"]

    status = s.cpnet("stack", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert _pids_from_status(status.stdout) == pids
    assert f"127.0.0.1:{s.kafka_port}" in status.stdout and f"127.0.0.1:{s.pg_port}" in status.stdout

    # Down stops both, and nothing of this stack is left running.
    down = s.cpnet("stack", "down")
    assert down.returncode == 0, down.stderr
    assert (
        f"kafka (pid {pids['kafka']})" in down.stdout and f"postgres (pid {pids['postgres']})" in down.stdout
    )
    for name, pid in pids.items():
        assert not _alive(pid), f"{name} (pid {pid}) still runs after `stack down`"
    markers = (str(s.root), str(s.pg_dir), f":{s.kafka_port}", f"-p {s.pg_port}")
    leftovers = {
        pid: cmd
        for pid, cmd in _cmdlines().items()
        if pid != os.getpid() and any(marker in cmd for marker in markers)
    }
    assert leftovers == {}
    for port in (s.kafka_port, s.kafka_port + 1, s.pg_port):
        assert not _port_open(port), f"port {port} still open after `stack down`"

    stopped = s.cpnet("stack", "status")
    assert stopped.returncode != 0
    assert stopped.stdout.count("stopped") == 2, stopped.stdout
    assert "running" not in stopped.stdout


# ---- `stack down` stops only what `stack up` started -----------------------------------
def _decoys(kind: str) -> list[list[str]]:
    """Live processes the private stack did not start, for its kafka and postgres pid files."""
    if kind == "unrelated":
        return [["sleep", "60"], ["sleep", "60"]]
    # Another stack's broker and cluster, as a stale or copied pid file may name them (pids are
    # reused after a reboot; `cp -r` of a checkout copies .stack/ with its pid files).
    nap = [sys.executable, "-c", "import time; time.sleep(60)"]
    return [
        [*nap, "kafka.Kafka", "/elsewhere/.stack/kafka/server.properties"],
        [*nap, "postgres", "-D", "/elsewhere/.stack/postgres/data", "-p", "5432"],
    ]


@pytest.mark.parametrize("kind", ["unrelated", "another-stack"])
def test_stack_down_leaves_processes_it_did_not_start_alone(tmp_path: Path, kind: str) -> None:
    s = _private_stack(tmp_path)
    created_pg_dir = not s.pg_dir.exists()
    decoys = [subprocess.Popen(cmd) for cmd in _decoys(kind)]
    try:
        kafka_pid_file = s.root / "kafka" / "kafka.pid"
        pg_pid_file = s.pg_dir / "postgres.pid"
        for pid_file, proc in zip((kafka_pid_file, pg_pid_file), decoys, strict=False):
            pid_file.parent.mkdir(parents=True, exist_ok=True)
            pid_file.write_text(f"{proc.pid}\n")

        status = s.cpnet("stack", "status")
        down = s.cpnet("stack", "down")
        time.sleep(0.5)
        for proc in decoys:
            assert proc.poll() is None, f"`stack down` stopped a process it did not start: {proc.args}"
        assert down.returncode == 0, down.stderr
        assert "nothing of ours was running" in down.stdout
        # Nor does `stack status` pass a foreign process off as this stack's.
        assert status.returncode != 0 and "running" not in status.stdout, status.stdout
    finally:
        for proc in decoys:
            proc.kill()
            proc.wait(timeout=10)
        if created_pg_dir and s.pg_dir != s.root / "postgres":
            shutil.rmtree(s.pg_dir, ignore_errors=True)
