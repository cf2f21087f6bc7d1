"""The outbox relay at batch speed on the real broker: a burst of small commits, each waking
the relay as a consumer's commit does, leaves in a few publish rounds, in order per case."""

from __future__ import annotations

import uuid
from collections import defaultdict

from shared.contracts.envelope import parse_event
from tests.integration.support import Database, read_topic, running_relay, wait_for
from tests.integration.test_outbox import commit_change, pending, scheduled

BURST = 60


async def test_a_burst_of_commits_leaves_in_a_few_rounds_in_order_per_case(
    infra, db: Database, topic: str
) -> None:
    cases = [uuid.uuid4() for _ in range(3)]
    committed: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    # A gathering window far longer than the burst takes, so the count of rounds does not
    # depend on how fast this machine commits.
    async with running_relay(db, infra.kafka_bootstrap, gather_s=3.0) as relay:
        for sequence in range(1, BURST + 1):
            event = scheduled(cases[sequence % len(cases)], sequence)
            await commit_change(db, topic, event)
            committed[event.case_id].append(event.event_id)
            relay.wake()
        await wait_for(lambda: _drained(db), what="the burst to be published")

    assert relay.published == BURST
    # One round gathers the burst; a poll that fell just before the first wake may add one.
    assert relay.rounds <= 3, f"{BURST} commits took {relay.rounds} publish rounds"
    records = await read_topic(infra.kafka_bootstrap, topic, count=BURST, settle=0.5)
    published: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for record in records:
        event = parse_event(record.value)
        published[event.case_id].append(event.event_id)
    assert published == committed, "each case's events exactly once, in commit order"


async def _drained(db: Database) -> bool:
    return await pending(db) == 0
