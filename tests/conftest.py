"""Test infrastructure: the real Kafka broker and PostgreSQL for integration tests.

`CPNET_TEST_INFRA=stack` uses the local stack (`cpnet stack up`, started here if it is not
running); `CPNET_TEST_INFRA=testcontainers` starts containers where a Docker engine exists.
Unset, the local stack is chosen unless a Docker engine answers. Integration tests never
skip for want of infrastructure: they fail, so a green run always means they ran.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from shared.settings import Settings


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    database_url: str
    kind: str


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # noqa: BLE001
        return False


def _local_stack() -> Iterator[Infra]:
    from cpnet.stack import Stack

    settings = Settings()
    Stack(settings).up()  # idempotent: a no-op when `make test` already started it
    yield Infra(settings.kafka_bootstrap, settings.database_url, "stack")


def _containers() -> Iterator[Infra]:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer

    from shared.contracts.topics import TOPICS
    from shared.messaging.admin import ensure_topics

    with PostgresContainer("postgres:16", driver="asyncpg") as pg, KafkaContainer().with_kraft() as kafka:
        bootstrap = kafka.get_bootstrap_server()
        ensure_topics(bootstrap, list(TOPICS.values()))
        yield Infra(bootstrap, pg.get_connection_url(), "testcontainers")


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    choice = os.environ.get("CPNET_TEST_INFRA") or ("testcontainers" if _docker_answers() else "stack")
    if choice not in ("stack", "testcontainers"):
        raise pytest.UsageError(f"CPNET_TEST_INFRA must be 'stack' or 'testcontainers', not {choice!r}")
    yield from (_containers() if choice == "testcontainers" else _local_stack())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path) or "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.integration)
