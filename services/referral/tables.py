"""Referral's own tables (schema `referral`): what it knows of each graded case, every
referral with its state, deadline and escalation, and the notes written with agencies' answers and
withdrawals (encrypted)."""

from __future__ import annotations

from sqlalchemy import ARRAY, Boolean, Column, DateTime, Index, Integer, MetaData, Table, Text, func, text
from sqlalchemy.dialects.postgresql import UUID

from shared.contracts.vocabulary import OPEN_REFERRAL_STATES, ReferralState
from shared.notes import notes_table

SCHEMA = "referral"
metadata = MetaData(schema=SCHEMA)

cases = Table(
    "cases",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("jurisdiction", Text, nullable=False),
    Column("risk_level", Text, nullable=False),
    Column("emergency", Boolean, nullable=False),
    Column("categories", ARRAY(Text), nullable=False),
    Column("needs", ARRAY(Text), nullable=False),
    Column("stage", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("case_number", Text),  # intake's, from case.assessed (referral_0003)
    Column("child_ref", UUID(as_uuid=True)),  # from case.assessed, for the access ledger (referral_0004)
    Column("assessed_version", Integer),  # case.assessed's version of the grade in force (referral_0005)
)

referrals = Table(
    "referrals",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("agency", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("outcome", Text),
    Column("reason", Text),
    Column("risk_level", Text, nullable=False),
    Column("jurisdiction", Text, nullable=False),  # the case's territory
    Column("holder", Text, nullable=False),  # the node answerable now: the case's, then each level up
    Column("escalations", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ack_due_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("responder_ref", Text),
    Column("case_number", Text),  # the case's, copied when the referral is made (referral_0003)
)
# One open referral per case and agency: a re-grade adds agencies, never duplicates one. The states are
# the vocabulary's constants, in lifecycle order (the migration wrote the same text), never input.
_OPEN_STATES = ", ".join(f"'{state}'" for state in ReferralState if state in OPEN_REFERRAL_STATES)
Index(
    "referrals_one_open_per_agency",
    referrals.c.case_id,
    referrals.c.agency,
    unique=True,
    postgresql_where=text(f"state IN ({_OPEN_STATES})"),
)
Index(
    "referrals_unacknowledged_due",
    referrals.c.ack_due_at,
    postgresql_where=text(f"state = '{ReferralState.created}'"),
)

# What an agency's officer wrote with an answer, or the case's side with a withdrawal (about: the
# referral). Created by referral_0004.
notes = notes_table(metadata)

DOMAIN_TABLES = (cases, referrals, notes)
