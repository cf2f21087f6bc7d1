"""Reachability checks of Kafka and PostgreSQL, for start-up and for GET /readyz."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.errors import InfrastructureUnavailable


def _where(database_url: str) -> str:
    url = make_url(database_url)
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


async def database_answers(engine: AsyncEngine, timeout: float = 3.0) -> bool:
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not ready"; the reason is in require_database
        return False


async def kafka_answers(bootstrap: str, timeout: float = 3.0) -> bool:
    try:
        await _kafka_metadata(bootstrap, timeout)
        return True
    except Exception:
        return False


async def _kafka_metadata(bootstrap: str, timeout: float) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            await admin.describe_cluster()
    finally:
        await admin.close()


async def require_database(database_url: str, timeout: float = 5.0) -> None:
    engine = create_async_engine(database_url, pool_pre_ping=False)
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc).splitlines()[0][:160]
        raise InfrastructureUnavailable(f"PostgreSQL at {_where(database_url)} is unreachable ({reason})") from None
    finally:
        await engine.dispose()


async def require_kafka(bootstrap: str, timeout: float = 5.0) -> None:
    try:
        await _kafka_metadata(bootstrap, timeout)
    except Exception as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc).splitlines()[0][:160]
        raise InfrastructureUnavailable(f"Kafka at {bootstrap} is unreachable ({reason})") from None
