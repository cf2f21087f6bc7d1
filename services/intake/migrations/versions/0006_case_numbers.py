"""Case numbers (个案编号, shared/case_number.py): a number on every case, unique, and the counter of
each county and year that new cases take their numbers from.

Cases opened before this revision are numbered here, in the order they opened, by the county of the
territory they are in now and the year they opened in China Standard Time; the counters start
after them.

Revision ID: intake_0006
"""

import sqlalchemy as sa
from alembic import op

revision = "intake_0006"
down_revision = "intake_0005"


def upgrade(schema: str = "intake") -> None:
    op.create_table(
        "case_numbers",
        sa.Column("county", sa.Text, primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last", sa.BigInteger, nullable=False),
        schema=schema,
    )
    op.add_column("cases", sa.Column("case_number", sa.Text(), nullable=True), schema=schema)
    # lpad cuts a longer string to the width it is given: past 99999 the sequence keeps its digits.
    op.execute(f"""
        WITH counted AS (
            SELECT id, substr(jurisdiction, 1, 6) AS county,
                   CAST(extract(year FROM opened_at AT TIME ZONE 'Asia/Shanghai') AS integer) AS year,
                   row_number() OVER (PARTITION BY substr(jurisdiction, 1, 6),
                                                   extract(year FROM opened_at AT TIME ZONE 'Asia/Shanghai')
                                      ORDER BY opened_at, id) AS sequence
            FROM {schema}.cases
        ), numbered AS (
            UPDATE {schema}.cases AS c
            SET case_number = n.county || '-' || n.year || '-' || lpad(
                CAST(n.sequence AS text), greatest(5, length(CAST(n.sequence AS text))), '0')
            FROM counted AS n WHERE c.id = n.id
            RETURNING n.county, n.year
        )
        INSERT INTO {schema}.case_numbers (county, year, last)
        SELECT county, year, count(*) FROM numbered GROUP BY county, year
    """)
    op.alter_column("cases", "case_number", nullable=False, schema=schema)
    op.create_unique_constraint("cases_case_number", "cases", ["case_number"], schema=schema)


def downgrade(schema: str = "intake") -> None:
    op.drop_constraint("cases_case_number", "cases", schema=schema, type_="unique")
    op.drop_column("cases", "case_number", schema=schema)
    op.drop_table("case_numbers", schema=schema)
