"""Alembic environment of the console (its users and sessions) (its own schema, shared set-up)."""

from shared.db.alembic_env import run_migrations

run_migrations()
