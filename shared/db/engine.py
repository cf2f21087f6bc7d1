"""One async engine and session factory per process, and what a unit of work's statements run on."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# No pre-ping: it is one more round trip on every checkout, i.e. every transaction. Connections
# are replaced after this long instead (so none outlives a server-side idle timeout or a
# failover for long), and a connection that dies anyway fails its transaction, which callers
# already answer (503, a consumer's retry), and the pool then replaces every connection opened
# before that failure.
POOL_RECYCLE_S = 30 * 60

# Kept open: what a busy service uses at once — its batched consumers, the relay, writes that
# arrive over HTTP recorded in batches, a probe. A burst of API reads may open ten more; every
# service of a host then stays well inside PostgreSQL's 100 connections.
POOL_SIZE = 5
POOL_OVERFLOW = 10


def make_engine(database_url: str, *, pool_size: int = POOL_SIZE, role: str | None = None) -> AsyncEngine:
    """`role`: a database role every connection takes on at once (SET ROLE), so a service
    can run with fewer rights than the login it connects with."""
    connect_args = {"server_settings": {"role": role}} if role else {}
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=POOL_OVERFLOW,
        pool_pre_ping=False,
        pool_recycle=POOL_RECYCLE_S,
        connect_args=connect_args,
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers read what they wrote after the unit of work commits.
    return async_sessionmaker(engine, expire_on_commit=False)


# Where a unit of work's statements run: an ORM session, or a Core connection where a hot path
# wants none of the session's own work per statement and per transaction (1.5–3 ms a transaction
# of intake's submission batch on the 2-core machine; docs/PERFORMANCE.md). Both execute the same
# statements; no code of ours uses what only a session has.
Transaction = AsyncSession | AsyncConnection
