"""The case's number people say and write, whether it is an emergency (listed first), and when a
follow-up visit last saw the child (a red or orange case closes as safe only after a recent one).

Revision ID: casework_0006
"""

import sqlalchemy as sa
from alembic import op

revision = "casework_0006"
down_revision = "casework_0005"


def upgrade(schema: str = "casework") -> None:
    op.add_column("cases", sa.Column("case_number", sa.Text(), nullable=True), schema=schema)
    op.add_column(
        "cases",
        sa.Column("emergency", sa.Boolean(), nullable=False, server_default=sa.false()),
        schema=schema,
    )
    op.add_column(
        "cases", sa.Column("last_visited_at", sa.DateTime(timezone=True), nullable=True), schema=schema
    )
    op.create_index(
        "cases_by_number",
        "cases",
        ["case_number"],
        unique=True,
        schema=schema,
        postgresql_where=sa.text("case_number IS NOT NULL"),
    )
    # Urgency makes room for emergencies ahead of every other red case: 0 emergency, 1 red,
    # 2 orange, 3 blue, 4 not graded yet (cases before this revision were none an emergency).
    op.execute(f"UPDATE {schema}.cases SET urgency = urgency + 1")


def downgrade(schema: str = "casework") -> None:
    op.execute(f"UPDATE {schema}.cases SET urgency = GREATEST(urgency - 1, 0)")
    op.drop_index("cases_by_number", table_name="cases", schema=schema)
    op.drop_column("cases", "last_visited_at", schema=schema)
    op.drop_column("cases", "emergency", schema=schema)
    op.drop_column("cases", "case_number", schema=schema)
