"""Follow-up's own tables (schema `followup`): each case's visit plan, the referral states it
waits on, the visits themselves and the notes written with them (encrypted)."""

from __future__ import annotations

from sqlalchemy import ARRAY, Boolean, Column, DateTime, Index, Integer, MetaData, Table, Text, func, text
from sqlalchemy.dialects.postgresql import UUID

from shared.contracts.vocabulary import CaseStatus
from shared.notes import notes_table

SCHEMA = "followup"
metadata = MetaData(schema=SCHEMA)

plans = Table(
    "plans",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("plan_id", UUID(as_uuid=True), nullable=False),
    Column("state", Text, nullable=False, server_default=CaseStatus.open.value),  # open | closed
    Column("jurisdiction", Text, nullable=False),
    Column("risk_level", Text, nullable=False),
    Column("cadence_days", Integer, nullable=False),
    Column("response_due_at", DateTime(timezone=True), nullable=False),
    Column("next_visit_due_at", DateTime(timezone=True), nullable=False),
    Column("last_visit_at", DateTime(timezone=True)),
    # The due date already announced as due / overdue: a sweep never announces one twice.
    Column("due_announced_for", DateTime(timezone=True)),
    Column("overdue_announced_for", DateTime(timezone=True)),
    Column("stage", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("child_ref", UUID(as_uuid=True)),  # from case.assessed, for the access ledger (followup_0003)
    # The case's closure in force (casework's, on case.closed) and a person's latest reopening
    # (case.reopened): the later of the two decides whether the plan is open. followup_0004.
    Column("case_closed_at", DateTime(timezone=True)),
    Column("case_reopened_at", DateTime(timezone=True)),
)
Index("plans_open_by_due", plans.c.next_visit_due_at, postgresql_where=text(f"state = '{CaseStatus.open}'"))

referral_states = Table(
    "referral_states",
    metadata,
    Column("referral_id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("agency", Text, nullable=False),
    Column("state", Text, nullable=False),
)

visits = Table(
    "visits",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("visited_at", DateTime(timezone=True), nullable=False),
    Column("visitor_ref", Text, nullable=False),
    Column("indicators", ARRAY(Text), nullable=False),
    Column("needs_met", ARRAY(Text), nullable=False),
    Column("needs_unmet", ARRAY(Text), nullable=False),
    Column("risk_found", Boolean, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# What the visitor wrote with each visit (about: the visit). Created by followup_0003.
notes = notes_table(metadata)

DOMAIN_TABLES = (plans, referral_states, visits, notes)
