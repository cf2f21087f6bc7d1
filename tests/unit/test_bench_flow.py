"""The benchmarks' view of their own reports counts the same whatever order the topics deliver in."""

from __future__ import annotations

import itertools
import json
import uuid

from bench.flow import Flow
from shared.contracts.events import CaseAssessed, CaseReported, FollowupScheduled
from shared.contracts.topics import referral_topic
from shared.contracts.vocabulary import Agency


def _events(external_id: str, *, earlier_reports: int) -> list[tuple[str, bytes]]:
    case_id, reported_id, assessed_id = (str(uuid.uuid4()) for _ in range(3))

    def event(topic: str, event_id: str, causation_id: str | None, **payload) -> tuple[str, bytes]:
        return topic, json.dumps(
            {"event_id": event_id, "case_id": case_id, "causation_id": causation_id, "payload": payload}
        ).encode()

    return [
        event(
            CaseReported.TOPIC, reported_id, None, external_id=external_id, earlier_reports=earlier_reports
        ),
        event(CaseAssessed.TOPIC, assessed_id, reported_id, risk_level="red"),
        event(referral_topic(Agency.police), str(uuid.uuid4()), assessed_id),
        event(FollowupScheduled.TOPIC, str(uuid.uuid4()), assessed_id),
    ]


def _seen(order: list[tuple[str, bytes]]) -> dict[str, int]:
    flow = Flow(produced_at={"r-1": 0.0, "r-2": 0.0})
    for n, (topic, value) in enumerate(order):
        flow.see(topic, None, value, 1000 + n)
    return flow.progress()


def test_progress_is_the_same_in_every_order_the_topics_deliver() -> None:
    first, repeat = _events("r-1", earlier_reports=0), _events("r-2", earlier_reports=1)
    expected = {
        "reports": 2,
        "stored": 2,
        "refused": 0,
        "graded": 2,
        "new cases": 1,
        "routed": 1,
        "planned": 1,
    }
    for order in itertools.permutations(first):
        assert _seen([*order, *repeat]) == expected
    assert _seen(list(reversed(first + repeat))) == expected
    assert _seen(first[:1])["graded"] == 0
