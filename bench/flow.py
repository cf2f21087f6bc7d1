"""What a benchmark sees of its own reports on the pipeline's topics, and the lag of the services'
consumer groups: together they tell when every report has been handled."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cpnet.registry import available_services
from shared.contracts.events import CaseAssessed, CaseReported, FollowupScheduled
from shared.contracts.hotline import HotlineReport
from shared.contracts.topics import dlq_topic, referral_topic
from shared.contracts.vocabulary import Agency, RiskLevel

LEDGER_GROUP = "audit.ledger"
CASEWORK_GROUPS = "casework."  # casework's consumer groups: it owns every case once they caught up
SCREENING_GROUP = "intake.screening"  # intake's consumer of the survey's rows (services/intake/service.py)
REFERRAL_TOPICS = {referral_topic(agency): agency for agency in Agency}
WATCHED = [
    CaseReported.TOPIC,
    CaseAssessed.TOPIC,
    FollowupScheduled.TOPIC,
    dlq_topic(HotlineReport.TOPIC),
    *REFERRAL_TOPICS,
]


@dataclass(frozen=True)
class Stored:
    """A report intake accepted: its case.reported event."""

    event_id: str
    case_id: str
    at: float
    first_of_child: bool  # intake knew no earlier report about the child


@dataclass(frozen=True)
class Graded:
    event_id: str
    case_id: str
    risk_level: str
    at: float


@dataclass
class Flow:
    """What the benchmark has seen of its own reports on the pipeline's topics (times in epoch seconds)."""

    produced_at: dict[str, float] = field(default_factory=dict)  # external id → when it was sent
    reported: dict[str, Stored] = field(default_factory=dict)  # by external id
    refused: set[str] = field(default_factory=set)  # external ids dead-lettered by intake
    assessed: dict[str, Graded] = field(default_factory=dict)  # by the event that caused it
    assessed_at: dict[str, float] = field(default_factory=dict)  # case → its latest case.assessed
    referred_at: dict[str, float] = field(default_factory=dict)  # case → its latest referral
    police: dict[str, float] = field(default_factory=dict)  # case.assessed event → police referral time
    planned_at: dict[str, float] = field(default_factory=dict)  # case → its latest followup.scheduled
    # Kept as events arrive, in whatever order the topics deliver them, so that asking how far
    # the run got costs nothing: counting 100,000 reports four times a second was most of the
    # benchmark's own CPU, taken from the services it measures.
    _reported_ids: set[str] = field(default_factory=set)
    _graded: set[str] = field(default_factory=set)  # reports (their case.reported ids) graded
    _new: set[str] = field(default_factory=set)  # cases first opened in this run
    _routed: set[str] = field(default_factory=set)  # … of them with a referral
    _planned: set[str] = field(default_factory=set)  # … of them with a visit plan

    def see(self, topic: str, key: bytes | None, value: bytes, timestamp_ms: int) -> None:
        at = timestamp_ms / 1000
        if topic == dlq_topic(HotlineReport.TOPIC):
            external_id = key.decode(errors="replace") if key else ""
            if external_id in self.produced_at:
                self.refused.add(external_id)
            return
        event = json.loads(value)
        case_id, payload = event["case_id"], event["payload"]
        if topic == CaseReported.TOPIC:
            if payload.get("external_id") in self.produced_at:
                stored = Stored(
                    event["event_id"], case_id, at, first_of_child=payload["earlier_reports"] == 0
                )
                self.reported[payload["external_id"]] = stored
                self._reported_ids.add(stored.event_id)
                if stored.event_id in self.assessed:
                    self._graded.add(stored.event_id)
                if stored.first_of_child:
                    self._new.add(case_id)
                    if case_id in self.referred_at:
                        self._routed.add(case_id)
                    if case_id in self.planned_at:
                        self._planned.add(case_id)
        elif topic == CaseAssessed.TOPIC:
            graded = Graded(event["event_id"], case_id, payload["risk_level"], at)
            self.assessed[event["causation_id"]] = graded
            self.assessed_at[case_id] = max(at, self.assessed_at.get(case_id, 0.0))
            if event["causation_id"] in self._reported_ids:
                self._graded.add(event["causation_id"])
        elif topic == FollowupScheduled.TOPIC:
            self.planned_at[case_id] = max(at, self.planned_at.get(case_id, 0.0))
            if case_id in self._new:
                self._planned.add(case_id)
        else:
            self.referred_at[case_id] = max(at, self.referred_at.get(case_id, 0.0))
            if case_id in self._new:
                self._routed.add(case_id)
            if REFERRAL_TOPICS[topic] is Agency.police:
                self.police.setdefault(event["causation_id"], at)

    @property
    def cases(self) -> set[str]:
        return {stored.case_id for stored in self.reported.values()}

    @property
    def new_cases(self) -> set[str]:
        """Cases of children first reported in this run. Only these must be routed and planned anew: a
        report joining an older case may change neither its referrals nor its visits."""
        return set(self._new)

    def progress(self) -> dict[str, int]:
        return {
            "reports": len(self.produced_at),
            "stored": len(self.reported),
            "refused": len(self.refused),
            "graded": len(self._graded),
            "new cases": len(self._new),
            "routed": len(self._routed),
            "planned": len(self._planned),
        }

    def complete(self) -> bool:
        """Every report stored (or refused) and graded, every new case routed and given its visit plan.
        (Whether the rest was handled, the consumers' lag tells.)"""
        p = self.progress()
        return (
            p["stored"] + p["refused"] == p["reports"]
            and p["graded"] == p["stored"]
            and p["routed"] == p["planned"] == p["new cases"]
        )

    def latencies(self, only: Collection[str] | None = None) -> dict[str, list[float]]:
        """Seconds from sending each report (of `only`, external ids, if given) to its case.reported,
        its case.assessed, and to its police referral."""
        reported, assessed, red, police = [], [], [], []
        for external_id, stored in self.reported.items():
            if only is not None and external_id not in only:
                continue
            sent = self.produced_at[external_id]
            reported.append(stored.at - sent)
            graded = self.assessed.get(stored.event_id)
            if graded is None:
                continue
            assessed.append(graded.at - sent)
            if graded.risk_level == RiskLevel.red:
                red.append(graded.at - sent)
            if graded.event_id in self.police:
                police.append(self.police[graded.event_id] - sent)
        return {"reported": reported, "assessed": assessed, "assessed_red": red, "police_red": police}

    def finished(self, started: float) -> dict[str, float | None]:
        """When each stage had handled its last report of this run, in seconds since the first was sent."""
        cases = self.cases

        def last(times: dict[str, float]) -> float | None:
            mine = [at for case_id, at in times.items() if case_id in cases]
            return max(mine) - started if mine else None

        stored = [stored.at for stored in self.reported.values()]
        return {
            "intake stored all": max(stored) - started if stored else None,
            "assessment graded all": last(self.assessed_at),
            "referral routed all": last(self.referred_at),
            "followup planned all": last(self.planned_at),
        }


class TopicTap:
    """A plain reader attached at the end of the watched topics before anything is sent."""

    def __init__(self, bootstrap: str, security: dict[str, Any], flow: Flow, *, reading: bool = True) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **security
        )
        self._flow = flow
        self._reading = reading  # False: attached now, read from read() on (what it sees waits in Kafka)
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> TopicTap:
        await self._consumer.start()
        partitions = await partitions_of(self._consumer, WATCHED)
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for partition in partitions:  # the end is resolved now, before the first report leaves
            await self._consumer.position(partition)
        if self._reading:
            self.read()
        return self

    def read(self) -> None:
        """Start reading (records keep Kafka's timestamps: reading late changes no figure)."""
        if self._task is None:
            self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for r in records:
                    self._flow.see(r.topic, r.key, r.value or b"", r.timestamp)

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    await consumer._client.force_metadata_update()  # topics' partitions are fetched lazily
    return [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in sorted(consumer.partitions_for_topic(topic) or ())
    ]


class ConsumerLag:
    """The lag of the services' live consumer groups (named `<service>.<consumer>`) on the partitions
    that grew during the run. A group counts once it has committed since the run began (or is the
    ledger's): a group left behind by a renamed consumer would otherwise never catch up."""

    def __init__(self, bootstrap: str, security: dict[str, Any]) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
        self._ends = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **security
        )
        self._at_start: dict[str, dict[TopicPartition, int]] = {}
        self._ends_at_start: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> ConsumerLag:
        await self._admin.start()
        await self._ends.start()
        self._at_start = await self._committed()
        self._ends_at_start = await self._end_offsets(self._at_start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._ends.stop()
        await self._admin.close()

    async def _committed(self) -> dict[str, dict[TopicPartition, int]]:
        services = set(available_services())
        listed = [
            group
            for group, _ in await self._admin.list_consumer_groups()
            if "." in group and group.split(".", 1)[0] in services
        ]
        committed = {}
        for group in listed:
            offsets = await self._admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        return committed

    async def _end_offsets(
        self,
        committed: dict[str, dict[TopicPartition, int]],
    ) -> dict[TopicPartition, int]:
        partitions = list({tp for offsets in committed.values() for tp in offsets})
        return await self._ends.end_offsets(partitions) if partitions else {}

    async def of(self, group: str, topic: str) -> int:
        """Messages of `topic` the group has yet to commit, on every partition: one it never committed
        counts from the start (the services' consumers begin at the earliest offset)."""
        partitions = await partitions_of(self._ends, [topic])
        ends = await self._ends.end_offsets(partitions)
        offsets = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
        committed = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())

    async def by_group(self) -> dict[str, int]:
        """Messages each live group has yet to commit."""
        committed = await self._committed()
        ends = await self._end_offsets(committed)
        grew = {tp for tp, end in ends.items() if end > self._ends_at_start.get(tp, 0)}
        live = {
            group
            for group, offsets in committed.items()
            if group == LEDGER_GROUP or offsets != self._at_start.get(group)
        }
        return {
            group: sum(max(0, ends[tp] - offset) for tp, offset in offsets.items() if tp in grew)
            for group, offsets in committed.items()
            if group in live
        }


async def wait_until_handled(
    flow: Flow,
    lag: ConsumerLag,
    *,
    started: float,
    timeout_s: float,
    say: Callable[[str], None],
    stalled_after_s: float = 180,
) -> dict[str, float]:
    """Until the flow is complete and then every service's consumers have caught up; returns when the
    ledger and all consumers caught up, in seconds since the first report was sent. Gives up when nothing
    has moved for `stalled_after_s` (a stuck pipeline must not hold the shared stack for an hour)."""
    now = time.monotonic()
    deadline, next_word, moved_at = now + timeout_s, now + 5, now
    last_seen: object = None
    caught_up: dict[str, float] = {}
    while True:
        now = time.monotonic()
        progress = flow.progress()
        lags = await lag.by_group() if flow.complete() else {}
        if (progress, lags) != last_seen:
            last_seen, moved_at = (progress, lags), now
        if now > deadline or now - moved_at > stalled_after_s:
            why = (
                f"not done within {timeout_s:.0f} s"
                if now > deadline
                else f"stalled for {stalled_after_s:.0f} s"
            )
            raise TimeoutError(f"{why}: {progress}, consumer lag {lags or 'not yet asked'}")
        if now > next_word:
            say(f"{time.time() - started:6.0f} s  " + ", ".join(f"{k} {v}" for k, v in progress.items()))
            next_word = now + 5
        if flow.complete():
            if lags.get(LEDGER_GROUP, 0) == 0:
                caught_up.setdefault("ledger caught up", time.time() - started)
            if not any(n for group, n in lags.items() if group.startswith(CASEWORK_GROUPS)):
                caught_up.setdefault("casework caught up", time.time() - started)
            if not any(lags.values()):
                caught_up["every consumer caught up"] = time.time() - started
                return caught_up
        await asyncio.sleep(0.25)
