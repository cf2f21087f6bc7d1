"""Runs a service's Alembic migrations into the service's own PostgreSQL schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import services

# Schemas with migrations that belong to no ServiceDefinition: the console's users and sessions.
OTHER_SCHEMAS = ("console",)


def migrated_schemas(services_found: list[str]) -> list[str]:
    """Every schema `cpnet db upgrade` brings up to date: the services', then the console's."""
    return [*services_found, *(name for name in OTHER_SCHEMAS if migrations_dir(name).is_dir())]


def migrations_dir(service: str) -> Path:
    return Path(services.__file__).parent / service / "migrations"


def alembic_config(service: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir(service)))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["schema"] = service
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    """Bring `service`'s schema to `revision` (idempotent). Call outside a running event loop."""
    command.upgrade(alembic_config(service, database_url), revision)
