"""Reachability checks of Kafka and PostgreSQL, for start-up and for GET /readyz."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import SaslAuthenticationFailed
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
    except Exception:  # noqa: BLE001 - any failure means "not ready"; the reason is in require_database
        return False


async def _kafka_metadata(bootstrap: str, timeout: float, security: dict[str, Any] | None) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **(security or {})
    )
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            await admin.describe_cluster()
    finally:
        await admin.close()


async def _connection_problem(bootstrap: str, timeout: float, security: dict[str, Any] | None) -> str | None:
    """Why one connection to the first bootstrap server fails, in an operator's words, when
    that is authentication or TLS (aiokafka's own error only says it could not bootstrap)."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        async with asyncio.timeout(timeout):
            connection = await create_conn(host or "127.0.0.1", int(port), **(security or {}))
        connection.close()
    except Exception as exc:  # noqa: BLE001
        text_of = str(exc)
        if "SaslAuthenticationFailed" in text_of or isinstance(exc, SaslAuthenticationFailed):
            return "authentication failed: check CPNET_KAFKA_USERNAME and CPNET_KAFKA_PASSWORD"
        if isinstance(exc, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text_of:
            return "TLS handshake failed: check CPNET_KAFKA_SSL_CAFILE and CPNET_KAFKA_SECURITY_PROTOCOL"
    return None


async def require_database(database_url: str, timeout: float = 5.0) -> None:
    engine = create_async_engine(database_url, pool_pre_ping=False)
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        reason = type(exc).__name__ if not str(exc) else str(exc).splitlines()[0][:160]
        raise InfrastructureUnavailable(
            f"PostgreSQL at {_where(database_url)} is unreachable ({reason})"
        ) from None
    finally:
        await engine.dispose()


async def require_kafka(
    bootstrap: str, timeout: float = 5.0, *, security: dict[str, Any] | None = None
) -> None:
    try:
        await _kafka_metadata(bootstrap, timeout, security)
    except Exception as exc:  # noqa: BLE001
        reason = await _connection_problem(bootstrap, timeout, security) or (
            type(exc).__name__ if not str(exc) else str(exc).splitlines()[0][:160]
        )
        raise InfrastructureUnavailable(f"Kafka at {bootstrap} is unreachable ({reason})") from None


async def require_service(name: str, url: str, timeout: float = 3.0) -> None:
    """A cpnet service answers `GET /readyz` as itself at `url`, else one line saying to start it."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            answer = await http.get(f"{url}/readyz")
        ready = answer.status_code == 200 and answer.json().get("service") == name
    except (httpx.HTTPError, ValueError):
        ready = False
    if not ready:
        raise InfrastructureUnavailable(
            f"the {name} service at {url} does not answer: start the system first (make run)"
        )
