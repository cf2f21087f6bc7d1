"""The help delivered (issue 23): providers and their purchase contracts, the services of cases' plans,
each unit delivered, and the family's feedback.

Revision ID: referral_0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "referral_0007"
down_revision = "referral_0006"

_ID = UUID(as_uuid=True)
_MOMENT = sa.DateTime(timezone=True)


def upgrade(schema: str = "referral") -> None:
    op.create_table(
        "providers",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("agency", sa.Text),
        sa.Column("territory", sa.Text, nullable=False),
        sa.Column("kinds", ARRAY(sa.Text), nullable=False),
        sa.Column("contact", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("created_at", _MOMENT, nullable=False),
        schema=schema,
    )
    op.create_table(
        "contracts",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("provider_id", _ID, sa.ForeignKey(f"{schema}.providers.id"), nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("territory", sa.Text, nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("budget", sa.Numeric(14, 2), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.CheckConstraint("ends_on >= starts_on", name="contracts_period"),
        schema=schema,
    )
    op.create_index("ix_referral_contracts_provider_id", "contracts", ["provider_id"], schema=schema)
    op.create_table(
        "contract_units",
        sa.Column("contract_id", _ID, sa.ForeignKey(f"{schema}.contracts.id"), primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("units", sa.Integer, nullable=False),
        sa.CheckConstraint("units > 0", name="contract_units_positive"),
        schema=schema,
    )
    op.create_table(
        "services",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("need", sa.Text, nullable=False),
        sa.Column("provider_id", _ID, sa.ForeignKey(f"{schema}.providers.id"), nullable=False),
        sa.Column("provider_kind", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("jurisdiction", sa.Text, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("risk_level", sa.Text, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("escalate_at", _MOMENT, nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("units_planned", sa.Integer),
        sa.Column("units_delivered", sa.Integer, nullable=False, server_default="0"),
        sa.Column("outcome", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("escalations", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ended_at", _MOMENT),
        sa.Column("case_number", sa.Text),
        sa.Column("updated_at", _MOMENT, nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.create_index("ix_referral_services_case_id", "services", ["case_id"], schema=schema)
    op.create_index("ix_referral_services_provider_id", "services", ["provider_id"], schema=schema)
    op.create_index(
        "services_open_due",
        "services",
        ["escalate_at"],
        schema=schema,
        postgresql_where=sa.text("state IN ('planned', 'accepted', 'in_progress')"),
    )
    op.create_table(
        "service_units",
        sa.Column("service_id", _ID, sa.ForeignKey(f"{schema}.services.id"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("delivered_on", sa.Date, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("recorded_at", _MOMENT, nullable=False),
        schema=schema,
    )
    op.create_table(
        "feedback",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("service_id", _ID, sa.ForeignKey(f"{schema}.services.id"), nullable=False),
        sa.Column("satisfaction", sa.SmallInteger, nullable=False),
        sa.Column("given_by", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("recorded_at", _MOMENT, nullable=False),
        sa.CheckConstraint("satisfaction BETWEEN 1 AND 5"),
        schema=schema,
    )
    op.create_index("ix_referral_feedback_service_id", "feedback", ["service_id"], schema=schema)


def downgrade(schema: str = "referral") -> None:
    for table in ("feedback", "service_units", "services", "contract_units", "contracts", "providers"):
        op.drop_table(table, schema=schema)
