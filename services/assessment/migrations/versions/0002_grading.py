"""The assessment schema's cases, grade history and needs-assessment records.

The operations are spelled out (rendered once by Alembic from the table definitions of the
time), so a later change to tables.py needs a migration of its own; the test of the
migrations compares the migrated schema with tables.py.

Revision ID: assessment_0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "assessment_0002"
down_revision = "assessment_0001"


def upgrade(schema: str = "assessment") -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("age_years", sa.Integer(), nullable=True),
        sa.Column("categories", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("indicators", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("needs_found", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("reports", sa.Integer(), server_default="0", nullable=False),
        sa.Column("earlier_reports", sa.Integer(), server_default="0", nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("computed_level", sa.Text(), nullable=False),
        sa.Column("risk_level", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("rule_set_version", sa.Text(), nullable=False),
        sa.Column("override_level", sa.Text(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("override_by", sa.Text(), nullable=True),
        sa.Column("override_base_level", sa.Text(), nullable=True),
        sa.Column("response_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        schema=schema,
    )
    op.create_table(
        "assessments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("caused_by", sa.Text(), nullable=False),
        sa.Column("risk_level", sa.Text(), nullable=False),
        sa.Column("computed_level", sa.Text(), nullable=False),
        sa.Column("overridden", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("factors", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("needs", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("rule_set_version", sa.Text(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("response_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(
        op.f("ix_assessment_assessments_case_id"), "assessments", ["case_id"], unique=False, schema=schema
    )
    op.create_table(
        "needs_records",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("indicators", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("needs", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(
        op.f("ix_assessment_needs_records_case_id"), "needs_records", ["case_id"], unique=False, schema=schema
    )


def downgrade(schema: str = "assessment") -> None:
    op.drop_table("needs_records", schema=schema)
    op.drop_table("assessments", schema=schema)
    op.drop_table("cases", schema=schema)
