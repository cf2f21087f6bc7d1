"""The Kafka access plan and the AsyncAPI document list exactly the topics each service's
code subscribes to: a consumer added without its ACL would be denied in production."""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker

from cpnet.registry import available_services, definition_of
from shared.contracts.asyncapi import SERVICE_CONSUMES as DOCUMENTED
from shared.db.tables import messaging_metadata
from shared.service import ServiceContext


def subscribed_topics(name: str) -> set[str]:
    """What the service's consumers read, built exactly as the service builds them."""

    class _Relay:
        def wake(self) -> None: ...

    definition = definition_of(name)
    settings = definition.settings()
    resources = definition.resources(settings) if definition.resources else None
    ctx = ServiceContext(
        name,
        settings,
        None,
        None,
        KafkaBroker(),
        _Relay(),  # type: ignore[arg-type]
        messaging_metadata(name),
        resources,
    )
    topics: set[str] = set()
    for consumer in definition.consumers(ctx) if definition.consumers else []:
        topics |= {consumer.topic} if isinstance(consumer.topic, str) else set(consumer.topic)
    return topics


@pytest.mark.parametrize("name", [n for n in available_services() if n != "audit"])
def test_the_documented_plan_lists_what_each_service_consumes(name: str) -> None:
    assert subscribed_topics(name) == set(DOCUMENTED[name])
