"""Assessment's own tables (schema `assessment`): each case's grading facts and current
grade, the history of every grade with its factors, overrides, home visits and plans, and the notes
written with them (encrypted)."""

from __future__ import annotations

from sqlalchemy import ARRAY, Boolean, Column, DateTime, Integer, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.notes import notes_table

SCHEMA = "assessment"
metadata = MetaData(schema=SCHEMA)

cases = Table(
    "cases",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("jurisdiction", Text, nullable=False),
    Column("age_years", Integer),
    Column("categories", ARRAY(Text), nullable=False),
    Column("indicators", ARRAY(Text), nullable=False),  # every indicator ever evidenced
    Column("needs_found", ARRAY(Text), nullable=False, server_default="{}"),  # from visits, reports, plans
    Column("reports", Integer, nullable=False, server_default="0"),
    Column("earlier_reports", Integer, nullable=False, server_default="0"),
    Column("stage", Text, nullable=False),
    Column("computed_level", Text, nullable=False),  # the rules' grade ("initial" in events)
    Column("risk_level", Text, nullable=False),  # the current grade, after any override
    Column("score", Integer, nullable=False),
    Column("emergency", Boolean, nullable=False),
    Column("rule_set_version", Text, nullable=False),
    Column("override_level", Text),
    Column("override_reason", Text),
    Column("override_by", Text),
    Column("override_base_level", Text),  # the computed grade the supervisor overrode
    Column("response_due_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("case_number", Text),  # intake's, from case.reported (assessment_0003)
    Column("child_ref", UUID(as_uuid=True)),  # the latest report's, for the access ledger (assessment_0004)
    Column("gradings", Integer, nullable=False, server_default="0"),  # case.assessed's version (..._0005)
)

assessments = Table(
    "assessments",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column(
        "cause", Text, nullable=False
    ),  # report | reassessment | override | home_visit | assessment_report | plan
    Column("caused_by", Text, nullable=False),  # the event id, or the user who acted
    Column("risk_level", Text, nullable=False),
    Column("computed_level", Text, nullable=False),
    Column("overridden", Boolean, nullable=False),
    Column("score", Integer, nullable=False),
    Column("factors", JSONB, nullable=False),
    Column("needs", ARRAY(Text), nullable=False),
    Column("emergency", Boolean, nullable=False),
    Column("rule_set_version", Text, nullable=False),
    Column("stage", Text, nullable=False),
    Column("response_due_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Needs-assessment records: the home visit, the written assessment report and the plan.
needs_records = Table(
    "needs_records",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("kind", Text, nullable=False),  # home_visit | assessment_report | plan
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("indicators", ARRAY(Text), nullable=False, server_default="{}"),
    Column("needs", ARRAY(Text), nullable=False, server_default="{}"),
    Column("details", JSONB, nullable=False, server_default="{}"),  # codes only: no free text
    Column("recorded_by", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# What people wrote with a home visit, an assessment report, a plan or a grade override (about: the
# needs record, or the grade's history row). Created by assessment_0004.
notes = notes_table(metadata)

DOMAIN_TABLES = (cases, assessments, needs_records, notes)
