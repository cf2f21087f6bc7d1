"""The intake schema's child registry, cases, reports, idempotency keys and archive.

The operations are spelled out (rendered once by Alembic from the table definitions of the
time), so a later change to tables.py needs a migration of its own; the test of the
migrations compares the migrated schema with tables.py.

Revision ID: intake_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "intake_0002"
down_revision = "intake_0001"


def upgrade(schema: str = "intake") -> None:
    op.create_table(
        "children",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("national_id_digest", sa.Text(), nullable=True),
        sa.Column("match_digest", sa.Text(), nullable=True),
        sa.Column("identity", sa.LargeBinary(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("national_id_digest"),
        schema=schema,
    )
    op.create_index(
        op.f("ix_intake_children_match_digest"), "children", ["match_digest"], unique=False, schema=schema
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("child_id", sa.UUID(), nullable=False),
        sa.Column("state", sa.Text(), server_default="open", nullable=False),
        sa.Column("stage", sa.Text(), server_default="screening", nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["child_id"],
            [f"{schema}.children.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(
        "cases_one_open_per_child",
        "cases",
        ["child_id"],
        unique=True,
        schema=schema,
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("child_id", sa.UUID(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("age_years", sa.Integer(), nullable=True),
        sa.Column("categories", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("indicators", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("confidential", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            [f"{schema}.cases.id"],
        ),
        sa.ForeignKeyConstraint(
            ["child_id"],
            [f"{schema}.children.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "external_id", name="reports_channel_external_id"),
        schema=schema,
    )
    op.create_index(op.f("ix_intake_reports_case_id"), "reports", ["case_id"], unique=False, schema=schema)
    op.create_index(op.f("ix_intake_reports_child_id"), "reports", ["child_id"], unique=False, schema=schema)
    op.create_table(
        "idempotency_keys",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_digest", sa.Text(), nullable=False),
        sa.Column("report_id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("child_ref", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("subject", "key"),
        schema=schema,
    )
    op.create_table(
        "archives",
        sa.Column("child_id", sa.UUID(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"],
            [f"{schema}.children.id"],
        ),
        sa.PrimaryKeyConstraint("child_id"),
        schema=schema,
    )


def downgrade(schema: str = "intake") -> None:
    op.drop_table("archives", schema=schema)
    op.drop_table("idempotency_keys", schema=schema)
    op.drop_table("reports", schema=schema)
    op.drop_table("cases", schema=schema)
    op.drop_table("children", schema=schema)
