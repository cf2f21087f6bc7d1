"""The services of this tree: which exist, their definitions and where their migrations live.

The library (shared/) knows no service: it wires and migrates whatever definition or migrations
directory it is given. This module is the one place that finds them, for the command line, the
supervisor and the benchmarks."""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic.config import Config

import services
from shared.db import migrate
from shared.service import ServiceDefinition

# Every service, in the order they are started and migrated.
SERVICE_NAMES = ("intake", "assessment", "referral", "followup", "audit", "casework")
# Schemas with migrations that belong to no ServiceDefinition: the console's users and sessions.
OTHER_SCHEMAS = ("console",)

SERVICES_ROOT = Path(services.__file__).parent


def available_services() -> list[str]:
    """The services that exist in this tree (found without importing them)."""
    return [name for name in SERVICE_NAMES if (SERVICES_ROOT / name / "service.py").exists()]


def definition_of(name: str) -> ServiceDefinition:
    return importlib.import_module(f"services.{name}.service").SERVICE


def migrations_dir(schema: str) -> Path:
    """The Alembic scripts of a service's schema (or the console's)."""
    return SERVICES_ROOT / schema / "migrations"


def migrated_schemas(services_found: list[str]) -> list[str]:
    """Every schema `cpnet db upgrade` brings up to date: the services', then the console's."""
    return [*services_found, *(name for name in OTHER_SCHEMAS if migrations_dir(name).is_dir())]


def alembic_config(schema: str, database_url: str) -> Config:
    """The Alembic configuration of one schema's migrations."""
    return migrate.alembic_config(schema, migrations_dir(schema), database_url)


def upgrade(schema: str, database_url: str, revision: str = "head") -> None:
    """Bring a service's (or the console's) schema to `revision` (idempotent). Call outside a
    running event loop."""
    migrate.upgrade(schema, migrations_dir(schema), database_url, revision)
