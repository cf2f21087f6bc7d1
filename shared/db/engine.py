"""One async engine and session factory per process."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def make_engine(database_url: str, *, pool_size: int = 10, role: str | None = None) -> AsyncEngine:
    """`role`: a database role every connection takes on at once (SET ROLE), so a service
    can run with fewer rights than the login it connects with."""
    connect_args = {"server_settings": {"role": role}} if role else {}
    return create_async_engine(database_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                               connect_args=connect_args)


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers read what they wrote after the unit of work commits.
    return async_sessionmaker(engine, expire_on_commit=False)
