"""The urgent lane end to end, in processes of its own as `cpnet run` starts them (issue 22): intake,
assessment and referral each run their ordinary work in one process and their urgent lanes in another
(CPNET_LANES). A child in immediate danger reported after a crowd reaches `referral.to.police` before
half of the crowd is graded; and the lanes keep what a case's people rely on: each report stored once,
a case's grades on `case.assessed` in the order they were made (their versions rising), and referral's
record of a child reported in the crowd and then in danger is the newest grade, red, with one police
referral. (How much sooner is `cpnet bench surge`'s to measure, never asserted here.)"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator

import asyncpg
import pytest

from shared.sample_reports import SampleReport, realistic_reports, villages
from shared.territory.registry import load_territory
from tests.e2e.conftest import instances, service_env
from tests.e2e.test_intake_assessment import ASSESSED, REPORTED
from tests.e2e.test_urgent_lane import send_crowd_then
from tests.e2e.watch import TopicWatcher

CROWD = 3000
POLICE = "referral.to.police"
WITH_LANES = ["intake", "assessment", "referral"]
WITHOUT = ["followup", "audit", "casework"]


@pytest.fixture(scope="module")
def lanes_apart(infra, tmp_path_factory) -> Iterator[None]:
    """Every service; those with urgent lanes as two processes each, ordinary and urgent."""
    env = service_env(infra)
    logs = tmp_path_factory.mktemp("lane-logs")
    (logs / "urgent").mkdir()
    with (
        instances(WITH_LANES, {**env, "CPNET_LANES": "urgent"}, logs / "urgent"),
        instances(WITH_LANES, {**env, "CPNET_LANES": "ordinary"}, logs),
        instances(WITHOUT, env, logs),
    ):
        yield


def in_danger_about(child_of: SampleReport, danger: SampleReport) -> SampleReport:
    """A second report, of immediate danger, about the child an earlier report named."""
    body = {**danger.body, "child": child_of.body["child"], "jurisdiction": child_of.body["jurisdiction"]}
    return SampleReport(danger.external_id, body, repeat=True, immediate_danger=True)


async def test_an_emergency_after_a_crowd_overtakes_it_through_every_lane_and_keeps_each_case_in_order(
    infra, lanes_apart
) -> None:
    rng, run = random.Random(2022), uuid.uuid4().hex[:8]
    places = villages(load_territory(None))
    crowd = realistic_reports(
        CROWD, places=places, run=f"{run}c", rng=rng, danger_share=0.0, repeat_share=0.0
    )
    dangers = realistic_reports(2, places=places, run=f"{run}e", rng=rng, danger_share=1.0)
    assert all(r.immediate_danger for r in dangers) and not any(r.immediate_danger for r in crowd)
    # A new child in danger; and a child the crowd already names (half-way through it) now in danger:
    # one the registry can know again, by its ID number or its name and birth date (a child a stranger
    # named with a guessed age is not matched, by design, and would rightly get a second case).
    named = next(
        r for r in crowd[CROWD // 2 :] if r.body["child"]["national_id"] or r.body["child"]["birth_date"]
    )
    emergency, again = dangers[0], in_danger_about(named, dangers[1])
    ours = {r.external_id for r in [*crowd, emergency, again]}

    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED, POLICE]) as watcher:
        await send_crowd_then(infra.kafka_bootstrap, crowd, emergency, again)

        def stored() -> dict[str, str]:
            """Each of our reports' case, by external id, in the order intake published them."""
            return {
                s.json()["payload"]["external_id"]: s.json()["case_id"]
                for s in watcher.matching(REPORTED)
                if s.json()["payload"]["external_id"] in ours
            }

        deadline = asyncio.get_running_loop().time() + 600
        while set(stored()) != ours:
            assert asyncio.get_running_loop().time() < deadline, f"{len(stored())} of {len(ours)} stored"
            await asyncio.sleep(0.2)
        cases = set(stored().values())
        in_danger = {stored()[emergency.external_id], stored()[again.external_id]}
        # Every case graded at least once, and both children in danger referred to the police.
        while {s.json()["case_id"] for s in watcher.matching(ASSESSED)} < cases or not in_danger <= {
            s.json()["case_id"] for s in watcher.matching(POLICE)
        }:
            assert asyncio.get_running_loop().time() < deadline, "every case graded, both in danger referred"
            await asyncio.sleep(0.2)
        await asyncio.sleep(3.0)  # time for a second publication of anything to show

    # Each report stored once: one event a report. The same event may be published twice (a case's
    # ordinary rows marked urgent after the ordinary relay read them: at-least-once, ARCHITECTURE "An
    # emergency ahead of the crowd"), and every consumer drops the second.
    published = [s.json() for s in watcher.matching(REPORTED)]
    reported = {(event["payload"]["external_id"], event["event_id"]) for event in published}
    assert max(Counter(r for r, _ in reported if r in ours).values()) == 1, "each report stored once"
    assert stored()[again.external_id] == stored()[named.external_id], "one child, one case"

    # The police heard of the new child in danger before half of the crowd had been graded.
    order = [(s.topic, s.json()["case_id"]) for s in watcher.seen if s.topic in (ASSESSED, POLICE)]
    referred_at = order.index((POLICE, stored()[emergency.external_id]))
    crowd_cases = cases - in_danger
    graded_before = {case for topic, case in order[:referred_at] if topic == ASSESSED and case in crowd_cases}
    assert len(graded_before) < len(crowd_cases) // 2, (
        f"the emergency reached the police after {len(graded_before)} of {len(crowd_cases)} crowd cases "
        "were graded: it waited behind the crowd"
    )

    # Each case's grades were published in the order they were made, whichever lane made them.
    versions = defaultdict(list)
    for s in watcher.matching(ASSESSED, lambda s: s.json()["case_id"] in cases):
        versions[s.json()["case_id"]].append(s.json()["payload"]["version"])
    for case, seen in versions.items():
        firsts = list(dict.fromkeys(seen))  # a republished grade (at-least-once) shows twice
        assert firsts == sorted(firsts), f"case {case}'s grades published out of order: {seen}"

    # Referral's record of the child named twice is the newest grade, and it holds one police referral.
    twice = uuid.UUID(stored()[again.external_id])
    conn = await asyncpg.connect(infra.database_url.replace("+asyncpg", ""))
    try:
        record = await conn.fetchrow(
            "SELECT risk_level, emergency, assessed_version FROM referral.cases WHERE case_id = $1", twice
        )
        police = await conn.fetchval(
            "SELECT count(*) FROM referral.referrals WHERE case_id = $1 AND agency = 'police'", twice
        )
    finally:
        await conn.close()
    assert (record["risk_level"], record["emergency"]) == ("red", True)
    assert record["assessed_version"] == max(versions[str(twice)])
    assert police == 1
