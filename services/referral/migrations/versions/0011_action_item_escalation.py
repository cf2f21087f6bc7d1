"""An action item still open after its day climbs the territory as a late referral or service does
(issue 24): the node answerable now (`holder`: the case's, then each level up), when it climbs next,
how often it has.

Revision ID: referral_0011
"""

import sqlalchemy as sa
from alembic import op

revision = "referral_0011"
down_revision = "referral_0010"


def upgrade(schema: str = "referral") -> None:
    op.add_column("action_items", sa.Column("holder", sa.Text), schema=schema)
    op.add_column("action_items", sa.Column("escalate_at", sa.DateTime(timezone=True)), schema=schema)
    op.add_column(
        "action_items",
        sa.Column("escalations", sa.Integer, nullable=False, server_default="0"),
        schema=schema,
    )
    # Those already given: answerable by the case's territory; late from the start of the day after the
    # one due (China Standard Time).
    op.execute(f"""
        UPDATE {schema}.action_items
        SET holder = jurisdiction,
            escalate_at = ((due_on + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
    """)
    op.alter_column("action_items", "holder", nullable=False, schema=schema)
    op.alter_column("action_items", "escalate_at", nullable=False, schema=schema)
    op.create_index("ix_referral_action_items_escalate_at", "action_items", ["escalate_at"], schema=schema)


def downgrade(schema: str = "referral") -> None:
    op.drop_index("ix_referral_action_items_escalate_at", "action_items", schema=schema)
    for column in ("escalations", "escalate_at", "holder"):
        op.drop_column("action_items", column, schema=schema)
