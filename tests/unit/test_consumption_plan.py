"""The Kafka access plan and the AsyncAPI document list exactly the topics each service's
code subscribes to: a consumer added without its ACL would be denied in production."""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker

from cpnet.registry import available_services, definition_of
from shared.contracts.asyncapi import SERVICE_CONSUMES as DOCUMENTED
from shared.db.tables import messaging_metadata
from shared.service import ServiceContext


class _Relay:
    def wake(self) -> None: ...


def consumers_of(name: str, lanes: str = "both", urgent_relay: _Relay | None = None) -> list:
    """The service's consumers built exactly as a process of it with `lanes` builds them."""
    definition = definition_of(name)
    settings = definition.settings(lanes=lanes)
    ctx = ServiceContext(
        name,
        settings,
        None,
        None,
        KafkaBroker(),
        _Relay(),  # type: ignore[arg-type]
        messaging_metadata(name),
        definition.resources(settings) if definition.resources else None,
        urgent_relay,  # type: ignore[arg-type]
    )
    return definition.consumers(ctx)


def subscribed_topics(name: str) -> set[str]:
    """What the service's consumers read."""
    topics: set[str] = set()
    for consumer in consumers_of(name):
        topics |= {consumer.topic} if isinstance(consumer.topic, str) else set(consumer.topic)
    return topics


@pytest.mark.parametrize("name", [n for n in available_services() if n != "audit"])
def test_the_documented_plan_lists_what_each_service_consumes(name: str) -> None:
    assert subscribed_topics(name) == set(DOCUMENTED[name])


def groups_of(name: str, lanes: str) -> dict[str, bool]:
    """Each consumer group a process of the service runs with `lanes` (settings.lanes), and whether
    its events go to the urgent relay (which such a process runs: shared/service.py)."""
    urgent_relay = _Relay() if definition_of(name).has_lanes and lanes != "ordinary" else None
    woken_urgent = getattr(urgent_relay, "wake", None)
    return {c.label: c.after_commit == woken_urgent for c in consumers_of(name, lanes, urgent_relay)}


@pytest.mark.parametrize("name", ["intake", "assessment", "referral"])
def test_a_process_runs_the_lanes_it_is_told_and_the_urgent_ones_wake_their_own_relay(name: str) -> None:
    both, ordinary, urgent = (groups_of(name, lanes) for lanes in ("both", "ordinary", "urgent"))
    lanes = {group for group in both if group.endswith(".urgent")}
    assert lanes, f"{name} has an urgent lane"
    assert set(urgent) == lanes and all(urgent.values()), "an urgent process runs its lanes alone"
    assert set(ordinary) == set(both) - lanes and not any(ordinary.values())
    assert {group for group, woken in both.items() if woken} == lanes
