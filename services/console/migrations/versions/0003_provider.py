"""A provider worker's organisation (issue 23): the provider, in referral's registry, whose services
the person sees and records; carried in each token the console mints for them.

Revision ID: console_0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "console_0003"
down_revision = "console_0002"


def upgrade(schema: str = "console") -> None:
    op.add_column("users", sa.Column("provider", UUID(as_uuid=True), nullable=True), schema=schema)


def downgrade(schema: str = "console") -> None:
    op.drop_column("users", "provider", schema=schema)
