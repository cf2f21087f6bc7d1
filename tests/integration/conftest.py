"""Fixtures of the integration tests: a fresh schema and fresh topics per test on the real
broker and database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import Column, Table, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from shared.db.tables import messaging_metadata
from tests.integration.support import Database


@pytest.fixture
async def db(infra) -> AsyncIterator[Database]:
    """A schema of its own, with the messaging tables and an `effects` table standing for
    whatever state a real handler changes."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(infra.database_url, pool_size=5)
    metadata = messaging_metadata(schema)
    Table(
        "effects",
        metadata,
        Column("event_id", Text, nullable=False),
        Column("case_id", UUID(as_uuid=True), nullable=False),
        Column("note", Text, nullable=False),
    )
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    try:
        yield Database(engine, async_sessionmaker(engine, expire_on_commit=False), metadata, schema)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


@pytest.fixture
async def topic(infra) -> str:
    """A fresh topic of three partitions and its dead-letter topic."""
    name = f"test.{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(name, num_partitions=3, replication_factor=1),
                NewTopic(f"{name}.dlq", num_partitions=1, replication_factor=1),
            ]
        )
    finally:
        await admin.close()
    return name


@pytest.fixture
async def audit_sessions(infra) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the audit schema, migrated to the head."""
    from cpnet.registry import upgrade
    from shared.db.engine import make_session_factory

    await asyncio.to_thread(upgrade, "audit", infra.database_url)
    engine = create_async_engine(infra.database_url, pool_size=2)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()
