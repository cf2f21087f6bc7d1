"""The agency kit stops the way a process supervisor stops it — SIGTERM, or SIGINT when the shell that
started it in the background left SIGINT ignored — half-way through a backlog of referrals: it
finishes the referral in hand, commits, and exits; started again it hands over the rest. Nothing is
missed and nothing is acknowledged twice. And an agency coming back to a backlog gets its
emergency first, not after every older referral."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer

from shared.contracts.envelope import new_envelope
from shared.contracts.events import ReferralCreated, ReferralResponded
from shared.contracts.vocabulary import Agency, Category, RiskLevel, Stage
from tests.e2e.watch import TopicWatcher

AGENCY = Agency.youth_league
BACKLOG = 1500


def referral(jurisdiction: str, *, emergency: bool = False) -> ReferralCreated:
    return ReferralCreated(
        referral_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        agency=AGENCY,
        risk_level=RiskLevel.red if emergency else RiskLevel.orange,
        emergency=emergency,
        categories=[Category.left_behind],
        needs=[],
        jurisdiction=jurisdiction,
        ack_due_at=datetime.now(UTC) + timedelta(days=3),
        details_url="http://referral.invalid/v1/referrals/x",
        stage=Stage.plan,
    )


async def publish(bootstrap: str, referrals: list[ReferralCreated]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = []
        for payload in referrals:
            envelope = new_envelope(payload, case_id=payload.case_id, producer="referral")
            topic = ReferralCreated.topic_for(payload)
            sent.append(await producer.send(topic, envelope.to_json(), key=str(payload.case_id).encode()))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def delivered(out: Path, ours: set[str]) -> list[str]:
    if not out.exists():
        return []
    written = out.read_text()
    # The kit may be writing its next line: only whole lines (ended by a newline) are read.
    lines = [json.loads(line) for line in written[: written.rfind("\n") + 1].splitlines() if line.strip()]
    return [line["payload"]["referral_id"] for line in lines if line["payload"]["referral_id"] in ours]


async def start_kit(
    out: Path, jurisdiction: str, infra, agency: str = AGENCY.value
) -> asyncio.subprocess.Process:
    """`cpnet agency listen` against the test stack, as a shell's background job starts it."""
    env = {
        **os.environ,
        "CPNET_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "CPNET_DATABASE_URL": infra.database_url,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cpnet.cli",
        "agency",
        "listen",
        "--agency",
        agency,
        "--jurisdiction",
        jurisdiction,
        "--out",
        str(out),
        env=env,
        stderr=asyncio.subprocess.DEVNULL,
        # As a shell starts a background job: SIGINT ignored. The kit must not depend on it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509
    )


def acknowledgements(answers: TopicWatcher, ours: set[str]) -> list[str]:
    """The referral ids of our referrals' acknowledgements seen on `referral.responses`, repeats too."""
    return [
        s.json()["payload"]["referral_id"]
        for s in answers.matching(ReferralResponded.TOPIC)
        if s.json()["payload"]["referral_id"] in ours
    ]


async def until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        await asyncio.sleep(0.05)


async def test_sigterm_mid_backlog_misses_nothing_and_acknowledges_nothing_twice(infra, tmp_path) -> None:
    # A territory of this run's own (a code prefix no other test uses), so the kit takes only ours.
    jurisdiction = f"9{uuid.uuid4().int % 10**11:011d}"
    backlog = [referral(jurisdiction) for _ in range(BACKLOG)]
    ours = {str(r.referral_id) for r in backlog}
    out = tmp_path / "youth_league.jsonl"
    async with TopicWatcher(infra.kafka_bootstrap, [ReferralResponded.TOPIC]) as answers:
        await publish(infra.kafka_bootstrap, backlog)

        kit = await start_kit(out, jurisdiction, infra)
        await until(lambda: len(delivered(out, ours)) >= 20, timeout=120, what="the kit's first referrals")
        kit.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(kit.wait(), timeout=30) == 0, "SIGTERM stops the kit cleanly"
        first_run = len(set(delivered(out, ours)))
        assert first_run < BACKLOG, "stopped half-way through the backlog (else this proves nothing)"

        kit = await start_kit(out, jurisdiction, infra)
        try:
            await until(
                lambda: len(set(delivered(out, ours))) == BACKLOG, timeout=180, what="the rest of the backlog"
            )

            await until(
                lambda: set(acknowledgements(answers, ours)) == ours, timeout=60, what="every acknowledgement"
            )
            await asyncio.sleep(2.0)  # time for any duplicate to show
        finally:
            kit.send_signal(signal.SIGINT)  # ignored as inherited: the kit's own handler takes it
            assert await asyncio.wait_for(kit.wait(), timeout=30) == 0, "SIGINT stops it cleanly too"
    acks = acknowledgements(answers, ours)
    assert len(acks) == BACKLOG and set(acks) == ours, "each referral acknowledged exactly once"
    assert set(delivered(out, ours)) == ours, "nothing missed"


async def test_an_emergency_behind_a_backlog_is_handed_over_first_and_once(infra, tmp_path) -> None:
    jurisdiction = f"9{uuid.uuid4().int % 10**11:011d}"
    # The kit was away: 1,500 ordinary referrals wait, and a child in immediate danger after them.
    backlog = [referral(jurisdiction) for _ in range(BACKLOG)]
    emergency = referral(jurisdiction, emergency=True)
    ours = {str(r.referral_id) for r in [*backlog, emergency]}
    out = tmp_path / "youth_league.jsonl"
    async with TopicWatcher(infra.kafka_bootstrap, [ReferralResponded.TOPIC]) as answers:
        await publish(infra.kafka_bootstrap, [*backlog, emergency])
        kit = await start_kit(out, jurisdiction, infra)
        try:
            target = str(emergency.referral_id)
            await until(lambda: target in delivered(out, ours), timeout=120, what="the emergency")
            place = delivered(out, ours).index(target) + 1
            print(f"the emergency was handed over {place}th of {BACKLOG + 1}")
            assert place <= BACKLOG // 10, f"the emergency came {place}th, behind older referrals"
            await until(lambda: len(delivered(out, ours)) == BACKLOG + 1, timeout=180, what="the backlog")

            await until(
                lambda: set(acknowledgements(answers, ours)) == ours, timeout=60, what="every acknowledgement"
            )
            await asyncio.sleep(2.0)  # time for any duplicate to show
        finally:
            kit.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(kit.wait(), timeout=30) == 0
    assert delivered(out, ours).count(target) == 1, "handed over once: the ordinary lane passed it over"
    assert (
        acknowledgements(answers, ours).count(target) == 1
        and len(acknowledgements(answers, ours)) == BACKLOG + 1
    )
