"""Runs a schema's Alembic migrations into its own PostgreSQL schema. Which schemas exist and
where their migrations live is the caller's knowledge (cpnet/registry.py), not the library's."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config


def alembic_config(schema: str, migrations: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["schema"] = schema
    return config


def upgrade(schema: str, migrations: Path, database_url: str, revision: str = "head") -> None:
    """Bring `schema` to `revision` with the scripts in `migrations` (idempotent). Call outside a
    running event loop."""
    command.upgrade(alembic_config(schema, migrations, database_url), revision)
