"""The one Alembic environment every service's migrations/env.py delegates to: async engine,
the service's own schema, and its own version table inside that schema."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


def run_migrations() -> None:
    config = context.config
    schema = config.attributes["schema"]
    url = config.get_main_option("sqlalchemy.url")

    def migrate(connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(connection=connection, version_table_schema=schema, include_schemas=False)
        with context.begin_transaction():
            context.run_migrations(schema=schema)

    async def run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(run())
