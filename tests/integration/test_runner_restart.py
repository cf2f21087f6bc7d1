"""`cpnet run --no-stack` as an operator runs it, against the real stack: a service killed with
-9 is restarted and answers again while the others run on; one that keeps dying stops
everything; Ctrl-C or SIGTERM leaves no child behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cpnet.registry import available_services

WAIT_S = 90.0
# What the runner prints each time it starts a service, e.g. `intake: http://127.0.0.1:8001  (pid 4242)`.
PID_LINE = r"^{service}: http://\S+\s+\(pid (?P<pid>\d+)\)$"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Runner:
    """The `cpnet run` process, its output (its services' logs included) read as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cpnet.cli", "run", "--no-stack"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.lines: list[str] = []
        self.ended = threading.Event()  # the output is closed: the runner and every child are gone
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
        self.ended.set()

    def output(self) -> str:
        return "\n".join(self.lines[-80:])

    def wait_for_line(self, pattern: str, *, after: int = 0) -> tuple[int, re.Match]:
        """The first line from index `after` on matching `pattern`, and its index."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            ended = self.ended.is_set()
            for index in range(after, len(self.lines)):
                if match := re.search(pattern, self.lines[index]):
                    return index, match
            assert not ended, f"`cpnet run` ended without printing {pattern!r}:\n{self.output()}"
            time.sleep(0.1)
        raise AssertionError(f"`cpnet run` never printed {pattern!r}:\n{self.output()}")

    def next_pid(self, service: str, *, after: int) -> tuple[int, int]:
        index, match = self.wait_for_line(PID_LINE.format(service=service), after=after)
        return index, int(match.group("pid"))

    def pids_seen(self) -> list[int]:
        any_service = PID_LINE.format(service=r"\w+")
        return [int(m.group("pid")) for line in list(self.lines) if (m := re.match(any_service, line))]


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def _listening_pid_is(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on 127.0.0.1:`port` (read from /proc)."""
    wanted = f"0100007F:{port:04X}"
    listening = {
        f"socket:[{cols[9]}]"
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if (cols := line.split())[1] == wanted and cols[3] == "0A"
    }
    try:
        held = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
    except (FileNotFoundError, ProcessLookupError):
        return False
    return bool(listening & held)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_until(condition, what: str, runner: Runner) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert runner.process.poll() is None, f"`cpnet run` exited waiting for {what}:\n{runner.output()}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}:\n{runner.output()}"
        time.sleep(0.2)


@pytest.fixture
def running(infra) -> Iterator[tuple[Runner, dict[str, str]]]:
    """`cpnet run` on free ports with every service answering /readyz, and the URL of each."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPNET_")}
    env.update(
        CPNET_KAFKA_BOOTSTRAP=infra.kafka_bootstrap,
        CPNET_DATABASE_URL=infra.database_url,
        CPNET_LOG_FORMAT="json",
    )
    urls = {}
    for service in available_services():
        port = _free_port()
        env[f"CPNET_{service.upper()}_PORT"] = str(port)
        urls[service] = f"http://127.0.0.1:{port}"
    runner = Runner(env)
    try:
        runner.wait_for_line("^cpnet is running")
        _wait_until(lambda: all(_ready(url) for url in urls.values()), "every service ready", runner)
        yield runner, urls
    finally:
        if runner.process.poll() is None:
            runner.process.send_signal(signal.SIGINT)
            try:
                runner.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                runner.process.kill()
        for pid in runner.pids_seen():  # only what this test started, by pid
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _stopped_everything(runner: Runner, urls: dict[str, str]) -> None:
    children = runner.pids_seen()
    assert len(children) >= len(urls)
    still_running = [pid for pid in children if _alive(pid)]
    assert not still_running, f"children left running after `cpnet run` exited: {still_running}"
    assert not any(_ready(url) for url in urls.values())


# Ctrl-C in the terminal, or a polite `kill` from a supervisor or a script.
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_killed_service_is_restarted_and_answers_again(running, stop_signal: signal.Signals) -> None:
    runner, urls = running
    before = {service: runner.next_pid(service, after=0)[1] for service in urls}
    victim = "intake"
    port = int(urls[victim].rpartition(":")[2])
    assert _listening_pid_is(before[victim], port)

    os.kill(before[victim], signal.SIGKILL)
    restarting = rf"^cpnet: {victim} exited with code -9; restarting in [\d.]+ s \(restart 1\)$"
    said, _ = runner.wait_for_line(restarting)
    _, new_pid = runner.next_pid(victim, after=said)
    assert new_pid != before[victim]
    _wait_until(
        lambda: _ready(urls[victim]) and _listening_pid_is(new_pid, port),
        f"{victim} answering /readyz from its new process",
        runner,
    )
    assert not _alive(before[victim])

    # Only the dead one was touched: the others are the same processes, still ready.
    for service, pid in before.items():
        if service != victim:
            assert _alive(pid), f"{service} (pid {pid}) did not survive {victim}'s restart"
            assert _ready(urls[service])
    assert not any(re.match(rf"^cpnet: (?!{victim}\b)\w+ exited", line) for line in runner.lines)

    runner.process.send_signal(stop_signal)
    assert runner.process.wait(timeout=60) == 0, runner.output()
    _stopped_everything(runner, urls)
    assert "stopping…" in runner.lines


def test_a_service_that_keeps_dying_stops_everything(running) -> None:
    runner, urls = running
    victim = "followup"
    index, pid = runner.next_pid(victim, after=0)
    crashes = 0
    while runner.process.poll() is None and crashes < 10:
        os.kill(pid, signal.SIGKILL)
        crashes += 1
        exited = rf"^cpnet: (error: service )?{victim} exited with code -9"
        index, _ = runner.wait_for_line(exited, after=index)
        if "error:" in runner.lines[index]:
            break
        index, pid = runner.next_pid(victim, after=index)

    assert runner.process.wait(timeout=60) == 1, runner.output()
    assert crashes == 5, runner.output()
    gave_up = [line for line in runner.lines if line.startswith("cpnet: error:")]
    assert gave_up == [
        f"cpnet: error: service {victim} exited with code -9, 5 times within 300 s; stopping everything"
    ], runner.output()
    _stopped_everything(runner, urls)
