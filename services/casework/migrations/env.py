"""Alembic environment of the casework service (its own schema, shared set-up)."""

from shared.db.alembic_env import run_migrations

run_migrations()
