"""The auditable ledger on the real stack: every step of a case lands in one hash chain that
`cpnet audit verify` can check, that no one can quietly edit, and that tells the case's story
in causal order."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime

import httpx

from cpnet.stack import Stack, _as_postgres, postgres_bindir
from services.audit.chain import Checkpoint
from services.audit.checkpoints import public_keys
from services.audit.settings import AuditSettings
from shared.auth import Role
from shared.settings import Settings
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, token
from tests.e2e.test_intake_assessment import REPORTED, by_external_id, kcat_produce
from tests.e2e.watch import TopicWatcher


def cpnet(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cpnet.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def as_superuser(sql: str) -> str:
    """psql as the cluster's superuser over the stack's own socket: the one who can
    bypass the ledger's trigger."""
    stack = Stack(Settings())
    command = [
        str(postgres_bindir() / "psql"),
        "-h",
        str(stack.pg_dir / "socket"),
        "-p",
        str(stack.pg_port),
        "-U",
        "postgres",
        "-d",
        stack.db_url.database or "cpnet",
        "-v",
        "ON_ERROR_STOP=1",
        "-qAt",
        "-c",
        sql,
    ]
    return subprocess.run(_as_postgres(command), capture_output=True, text=True, check=True).stdout


async def timeline_of(http: httpx.AsyncClient, case_id: str, *, until: set[str]) -> list[dict]:
    for _ in range(200):
        answer = await http.get(f"/v1/cases/{case_id}/timeline", headers=token(Role.auditor, "inspector-1"))
        if answer.status_code == 200 and until <= {step["event_type"] for step in answer.json()}:
            return answer.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"the timeline never showed {until}")


async def test_a_case_timeline_runs_intake_assessment_referral_followup_in_causal_order(
    infra, services: RunningServices
) -> None:
    report = hotline_report()
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED]) as watcher:
        kcat_produce(infra.kafka_bootstrap, report)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(report["external_id"]))
    case_id = reported.json()["case_id"]
    async with httpx.AsyncClient(base_url=services.urls["followup"]) as http:
        for _ in range(100):
            visit = await http.post(
                f"/v1/cases/{case_id}/visits",
                headers=token(Role.caseworker, "cw-8"),
                json={"visited_at": datetime.now(UTC).isoformat()},
            )
            if visit.status_code == 201:
                break
            await asyncio.sleep(0.1)
    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        steps = await timeline_of(
            http,
            case_id,
            until={
                "case.reported",
                "case.assessed",
                "referral.created",
                "followup.scheduled",
                "followup.visit_recorded",
            },
        )
    producers = [step["producer"] for step in steps]
    first = {p: producers.index(p) for p in ("intake", "assessment", "referral", "followup")}
    assert first["intake"] < first["assessment"] < min(first["referral"], first["followup"])
    by_id = {step["event_id"]: i for i, step in enumerate(steps)}
    for i, step in enumerate(steps):
        if step["caused_by"] in by_id:
            assert by_id[step["caused_by"]] < i, "every cause comes before its effect"
    text = str(steps)
    for secret in (report["child"]["name"], report["child"]["national_id"], report["narrative"]):
        assert secret not in text


async def test_verify_passes_and_names_the_entry_a_superuser_changed(
    infra, services: RunningServices
) -> None:
    report = hotline_report()
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED]) as watcher:
        kcat_produce(infra.kafka_bootstrap, report)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(report["external_id"]))
    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        await timeline_of(http, reported.json()["case_id"], until={"case.reported", "referral.created"})
    made = cpnet(services.env, "audit", "checkpoint")
    assert made.returncode == 0, made.stderr
    clean = cpnet(services.env, "audit", "verify")
    assert clean.returncode == 0 and "ledger intact" in clean.stdout, clean.stderr
    # A witness agency keeps the exported checkpoints and checks them with the public key.
    exported = cpnet(services.env, "audit", "export")
    assert exported.returncode == 0, exported.stderr
    witnessed = [Checkpoint.from_json(line) for line in exported.stdout.splitlines()]
    assert witnessed and [c.size for c in witnessed] == sorted(c.size for c in witnessed)
    key = public_keys(AuditSettings())[witnessed[-1].key_id]
    assert all(c.signature_valid(key) for c in witnessed)

    # Neither the application's login (the trigger) nor the audit role (no UPDATE right)
    # can change a row...
    # The entry of this report's case.reported event, in its chain (its topic and partition).
    event_key = f"event:{reported.json()['event_id']}"
    target, chain, position = (
        as_superuser(f"SELECT seq, chain, position FROM audit.ledger WHERE event_key = '{event_key}'")
        .strip()
        .split("|")
    )
    assert chain.startswith(f"{REPORTED}/")
    update = (
        f"UPDATE audit.ledger SET record = jsonb_set(record, '{{topic}}', '\"forged\"') WHERE seq = {target}"
    )
    login = subprocess.run(
        ["psql", infra.database_url.replace("+asyncpg", ""), "-qAtc", update], capture_output=True, text=True
    )
    assert login.returncode != 0 and "append-only" in login.stderr
    role = subprocess.run(
        ["psql", infra.database_url.replace("+asyncpg", ""), "-qAtc", f"SET ROLE cpnet_audit; {update}"],
        capture_output=True,
        text=True,
    )
    assert role.returncode != 0 and "permission denied" in role.stderr
    # ...but a superuser can bypass the trigger. The chain still tells.
    as_superuser(f"SET session_replication_role = replica; {update}")
    try:
        broken = cpnet(services.env, "audit", "verify")
        assert broken.returncode == 2
        assert f"chain {chain}: entry {position}: hash mismatch" in broken.stderr, broken.stderr
    finally:
        as_superuser(
            f"SET session_replication_role = replica; UPDATE audit.ledger SET record = jsonb_set(record, "
            f"'{{topic}}', to_jsonb(topic)) WHERE seq = {target}"
        )
    assert cpnet(services.env, "audit", "verify").returncode == 0, "restored"


async def test_an_event_delivered_again_is_on_the_ledger_once(infra, services: RunningServices) -> None:
    """A producer's retry can put the same event on a topic twice: the ledger, which keeps no
    de-duplication rows of its own, holds it once all the same."""
    from aiokafka import AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    report = hotline_report()
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED]) as watcher:
        kcat_produce(infra.kafka_bootstrap, report)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(report["external_id"]))
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        again = await (
            await producer.send(
                REPORTED,
                reported.value,
                key=reported.key,
                headers=[(k, v.encode()) for k, v in reported.headers.items()],
            )
        )
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        for _ in range(300):  # until the ledger's consumer group has committed past the copy
            offsets = await admin.list_consumer_group_offsets("audit.ledger")
            committed = offsets.get(TopicPartition(REPORTED, again.partition))
            if committed is not None and committed.offset > again.offset:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the ledger never took the copy")
    finally:
        await admin.close()
    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as conn:
            entries = await conn.scalar(
                text("SELECT count(*) FROM audit.ledger WHERE event_key = :key"),
                {"key": f"event:{reported.json()['event_id']}"},
            )
    finally:
        await engine.dispose()
    assert entries == 1
