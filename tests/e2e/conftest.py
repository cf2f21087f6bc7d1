"""End-to-end fixtures: the real services as separate processes (`cpnet serve`), on free
ports, against the real stack — exactly as an operator runs them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


@dataclass(frozen=True)
class RunningServices:
    urls: dict[str, str]
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serving(names: list[str], env: dict[str, str], logs: Path, *,
            ready_within_s: float = 60) -> Iterator[dict[str, str]]:
    """The named services as processes (`cpnet serve`), each on a free port (added to `env`)
    and writing its log to `logs/<name>.log`; yields their URLs once all are ready, then stops them."""
    processes: dict[str, subprocess.Popen] = {}
    urls = {}
    try:
        for name in names:
            port = _free_port()
            urls[name] = f"http://127.0.0.1:{port}"
            env[f"CPNET_{name.upper()}_PORT"] = str(port)
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", "cpnet.cli", "serve", name], env=env,
                stdout=open(logs / f"{name}.log", "wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_within_s
        for name, url in urls.items():
            while not _ready(url):
                if processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited: {(logs / f'{name}.log').read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready: {(logs / f'{name}.log').read_text()[-2000:]}")
                time.sleep(0.2)
        yield urls
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGINT)
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def services(infra, tmp_path_factory) -> Iterator[RunningServices]:
    """Every service with its consumers and relay, started once per test module (a module
    that runs services in-process must not share consumer groups with these)."""
    names = ["intake", "assessment", "referral", "followup", "audit", "casework"]
    env = {**os.environ, "CPNET_KAFKA_BOOTSTRAP": infra.kafka_bootstrap, "CPNET_DATABASE_URL": infra.database_url,
           "CPNET_LOG_FORMAT": "json"}
    subprocess.run([sys.executable, "-m", "cpnet.cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    logs = tmp_path_factory.mktemp("service-logs")
    with serving(names, env, logs) as urls:
        yield RunningServices(urls=urls, env=env)
