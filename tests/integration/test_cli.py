"""The real `cpnet` command, run as a subprocess: one-line errors when Kafka or PostgreSQL
is unreachable, a served service's health endpoints and clean Ctrl-C, contract export, and the
console's people: a weak or public password refused in one line, an identity provider's account
linked to one person only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from cpnet.registry import available_services

CPNET = str(Path(sys.executable).with_name("cpnet"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPNET_")}
    env.update(overrides)
    return env


def _cpnet(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([CPNET, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got:\n{result.stderr}"
    for word in words:
        assert word in lines[0], f"{word!r} missing from: {lines[0]}"
    return lines[0]


# ---- unreachable infrastructure: one line, no traceback --------------------------------
@pytest.fixture
def dead_database(infra) -> tuple[str, dict[str, str]]:
    """A database URL at a closed port, with the real Kafka of the shared stack."""
    where = f"127.0.0.1:{_free_port()}"
    return where, _env(
        CPNET_DATABASE_URL=f"postgresql+asyncpg://cpnet:cpnet@{where}/cpnet",
        CPNET_KAFKA_BOOTSTRAP=infra.kafka_bootstrap,
    )


@pytest.fixture
def dead_kafka(infra) -> tuple[str, dict[str, str]]:
    """A Kafka bootstrap at a closed port, with the real PostgreSQL of the shared stack."""
    where = f"127.0.0.1:{_free_port()}"
    return where, _env(CPNET_KAFKA_BOOTSTRAP=where, CPNET_DATABASE_URL=infra.database_url)


def test_db_upgrade_with_database_unreachable(dead_database) -> None:
    where, env = dead_database
    _assert_one_line_error(_cpnet("db", "upgrade", env=env), "PostgreSQL", where, "unreachable")


def test_topics_create_with_kafka_unreachable(dead_kafka) -> None:
    where, env = dead_kafka
    _assert_one_line_error(_cpnet("topics", "create", env=env), "Kafka", where, "unreachable")


def test_serve_with_database_unreachable(dead_database) -> None:
    where, env = dead_database
    result = _cpnet("serve", "intake", "--port", str(_free_port()), env=env)
    _assert_one_line_error(result, "PostgreSQL", where, "unreachable")


def test_serve_with_kafka_unreachable(dead_kafka) -> None:
    where, env = dead_kafka
    result = _cpnet("serve", "intake", "--port", str(_free_port()), env=env)
    _assert_one_line_error(result, "Kafka", where, "unreachable")


def test_serve_unknown_service() -> None:
    result = _cpnet("serve", "nosuch", env=_env())
    line = _assert_one_line_error(result, "nosuch")
    known = available_services()
    assert "intake" in known
    for name in known:
        assert name in line


# ---- a served service: health, readiness, Ctrl-C --------------------------------------
@pytest.fixture(scope="module")
def served_env(infra) -> dict[str, str]:
    env = _env(CPNET_KAFKA_BOOTSTRAP=infra.kafka_bootstrap, CPNET_DATABASE_URL=infra.database_url)
    upgrade = _cpnet("db", "upgrade", env=env)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "intake: schema up to date" in upgrade.stdout
    return env


# How the operator's shell hands SIGINT down: a terminal leaves it at its default (Ctrl-C),
# a background job of a non-interactive shell or a supervisor may leave it ignored.
SIGINT_DISPOSITIONS = {
    # uvicorn catches SIGINT, shuts down gracefully (the lifespan's shutdown runs), and
    # uvicorn.run swallows the KeyboardInterrupt it re-raises: a clean exit, code 0.
    "terminal": (signal.SIG_DFL, 0),
    # uvicorn installs its own handler even over an ignored SIGINT, so Ctrl-C still stops it.
    "inherited-ignored": (signal.SIG_IGN, 0),
}


@pytest.mark.parametrize("disposition", SIGINT_DISPOSITIONS)
def test_serve_intake_answers_health_and_stops_on_sigint(served_env, disposition: str) -> None:
    handler, expected_code = SIGINT_DISPOSITIONS[disposition]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [CPNET, "serve", "intake", "--port", str(port)],
        env=served_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, handler),  # noqa: PLW1509
    )
    try:
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"`cpnet serve intake` exited early: {proc.communicate()[1]}"
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, "GET /healthz never answered"
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "service": "intake"}

        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "kafka": "ok"}
        assert ready.json()["status"] == "ready"

        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
        assert proc.returncode == expected_code, stderr
        assert "Traceback" not in stderr
        assert "service stopped" in stderr  # the lifespan's shutdown ran
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=2)


# ---- contracts ------------------------------------------------------------------------
def test_contracts_export_writes_json_schemas(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    result = _cpnet("contracts", "export", str(out), env=_env())
    assert result.returncode == 0, result.stderr
    for name, title in (
        ("case.reported.v1.json", "case.reported v1"),
        ("intake.reports.raw.v1.json", "intake.reports.raw v1"),
    ):
        path = out / name
        assert path.is_file(), f"{name} not written; got {sorted(p.name for p in out.iterdir())}"
        assert str(path) in result.stdout
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["title"] == title
        assert schema["properties"]


# ---- the console's people ----------------------------------------------------------------
def _users(*args: str, env: dict[str, str], password: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CPNET, "users", *args],
        env=env,
        input=None if password is None else password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("password", ["passwordpassword", "aaaaaaaaaaaa", "cpnet-demo-password"])
def test_users_add_refuses_a_weak_or_public_password_in_one_line(served_env, password: str) -> None:
    username = f"weak-{uuid.uuid4().hex[:8]}"
    result = _users(
        "add",
        username,
        "--role",
        "caseworker",
        "--jurisdiction",
        "140402",
        "--password-stdin",
        env=served_env,
        password=password,
    )
    line = _assert_one_line_error(result, "password")
    assert password not in line, "the refusal never repeats the password"


def test_users_link_oidc_gives_one_identity_to_one_person(served_env) -> None:
    first, second = (f"linked-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for username in (first, second):
        added = _users(
            "add",
            username,
            "--role",
            "caseworker",
            "--jurisdiction",
            "140402",
            "--password-stdin",
            env=served_env,
            password="a long enough password 42",
        )
        assert added.returncode == 0, added.stderr
    subject = f"sub-{uuid.uuid4()}"
    linked = _users(
        "link-oidc", first, "--issuer", "https://idp.example", "--subject", subject, env=served_env
    )
    assert linked.returncode == 0 and f"linked {first} to {subject} at https://idp.example" in linked.stdout
    _assert_one_line_error(
        _users("link-oidc", second, "--issuer", "https://idp.example", "--subject", subject, env=served_env),
        "linked to",
        first,
    )
    _assert_one_line_error(_users("link-oidc", second, "--subject", subject, env=served_env), "--issuer")
    assert _users("unlink-oidc", first, env=served_env).returncode == 0
    relinked = _users(
        "link-oidc", second, "--issuer", "https://idp.example", "--subject", subject, env=served_env
    )
    assert relinked.returncode == 0, relinked.stderr
