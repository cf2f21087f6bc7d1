"""Each service's migrations, run to head on the real database, build exactly the schema its
tables.py describes: a table or column added to the code without a migration (or the
reverse) fails here, before it fails on a production database."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.registry import OTHER_SCHEMAS, available_services, migrated_schemas, upgrade
from shared.db.tables import messaging_metadata

# Expression indexes Alembic cannot compare; each is created by a migration of its own.
EXPRESSION_INDEXES = {
    "ledger_access_child",
    "ledger_access_reader",
    "ledger_access_territory",
    "ledger_link_survivor",
}


def declared(service: str) -> MetaData:
    """Every table the service's code declares, and its messaging tables (the console has none)."""
    module = importlib.import_module(f"services.{service}.tables")
    metadata = MetaData(schema=service) if service in OTHER_SCHEMAS else messaging_metadata(service)
    for value in vars(module).values():
        if isinstance(value, Table) and value.name not in metadata.tables:
            value.to_metadata(metadata)
    return metadata


@pytest.mark.parametrize("service", migrated_schemas(available_services()))
async def test_the_migrated_schema_is_what_the_code_declares(infra, service: str) -> None:
    await asyncio.to_thread(upgrade, service, infra.database_url)
    metadata = declared(service)

    def include_name(name, type_, parent_names) -> bool:
        return name == service if type_ == "schema" else name != "alembic_version"

    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        return not (type_ == "index" and name in EXPRESSION_INDEXES)

    def differences(connection):
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": include_name,
                "include_object": include_object,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return compare_metadata(context, metadata)

    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(differences)
    finally:
        await engine.dispose()
    assert diff == [], f"{service}: the migrations and tables.py disagree: {diff}"
