"""Referral's own tables (schema `referral`): what it knows of each graded case, every
referral with its state, deadline and escalation, and the notes written with agencies' answers and
withdrawals (encrypted)."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from shared.contracts.vocabulary import OPEN_REFERRAL_STATES, OPEN_SERVICE_STATES, ReferralState, ServiceState
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

# ---- the help delivered: providers, their contracts, the services of plans (referral_0007) ---------

providers = Table(
    "providers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),  # an organisation's name: not a child's data
    Column("kind", Text, nullable=False),  # ProviderKind
    Column("agency", Text),  # an agency office's agency, whose officers record its services
    Column("territory", Text, nullable=False),  # the node it serves
    Column("kinds", ARRAY(Text), nullable=False),  # the service kinds it gives
    Column("contact", Text),  # the organisation's office contact
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A government purchase of services (政府购买服务): a period, the territory it covers, units per kind.
contracts = Table(
    "contracts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("provider_id", UUID(as_uuid=True), ForeignKey("providers.id"), nullable=False, index=True),
    Column("reference", Text, nullable=False),  # the contract's own number
    Column("territory", Text, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("budget", Numeric(14, 2), nullable=False),  # yuan
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", Text, nullable=False),
    CheckConstraint("ends_on >= starts_on", name="contracts_period"),
)
contract_units = Table(
    "contract_units",
    metadata,
    Column("contract_id", UUID(as_uuid=True), ForeignKey("contracts.id"), primary_key=True),
    Column("kind", Text, primary_key=True),  # ServiceKind
    Column("units", Integer, CheckConstraint("units > 0", name="contract_units_positive"), nullable=False),
)

services = Table(
    "services",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("kind", Text, nullable=False),
    Column("need", Text, nullable=False),
    Column("provider_id", UUID(as_uuid=True), ForeignKey("providers.id"), nullable=False, index=True),
    Column("provider_kind", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("jurisdiction", Text, nullable=False),
    Column("holder", Text, nullable=False),
    Column("risk_level", Text, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("escalate_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("units_planned", Integer),
    Column("units_delivered", Integer, nullable=False, server_default="0"),
    Column("outcome", Text),
    Column("reason", Text),
    Column("escalations", Integer, nullable=False, server_default="0"),
    Column("ended_at", DateTime(timezone=True)),
    Column("case_number", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
_OPEN_SERVICES = ", ".join(f"'{state}'" for state in ServiceState if state in OPEN_SERVICE_STATES)
Index("services_open_due", services.c.escalate_at, postgresql_where=text(f"state IN ({_OPEN_SERVICES})"))

# Each unit delivered (a session, a month's allowance) with its date; its note is sealed in `notes`.
service_units = Table(
    "service_units",
    metadata,
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id"), primary_key=True),
    Column("number", Integer, primary_key=True),  # 1, 2, … in the order recorded
    Column("delivered_on", Date, nullable=False),
    Column("recorded_by", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# A lawsuit's steps (a guardianship-transfer lawsuit: application, acceptance, hearing, judgement), each
# with its day; its note is sealed in `notes`. Created by referral_0008.
service_steps = Table(
    "service_steps",
    metadata,
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id"), primary_key=True),
    Column("step", Text, primary_key=True),  # LawsuitStep
    Column("on", Date, nullable=False),
    Column("result", Text),  # JudgementResult, with the judgement
    Column("recorded_by", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# The family's satisfaction with a service (服务对象满意度), entered by the caseworker or the family.
feedback = Table(
    "feedback",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id"), nullable=False, index=True),
    Column("satisfaction", SmallInteger, CheckConstraint("satisfaction BETWEEN 1 AND 5"), nullable=False),
    Column("given_by", Text, nullable=False),  # family | caseworker
    Column("recorded_by", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# Complaints about a service (投诉) and how the county found them (监管评估): its note sealed in `notes`.
# Created by referral_0009.
complaints = Table(
    "complaints",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id"), nullable=False, index=True),
    Column("kind", Text, nullable=False),  # ComplaintKind
    Column("made_by", Text, nullable=False),  # ComplaintSource
    Column("received_on", Date, nullable=False),
    Column("recorded_by", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("finding", Text),  # ComplaintFinding, once handled
    Column("handled_on", Date),
    Column("handled_by", Text),
)

# Joint meetings (联席会议) of a county's or the city's departments: who came, what each case discussed was
# decided, and the action items (督办事项) given to departments; every text sealed in `notes` (about the
# meeting, or the item). Created by referral_0010.
meetings = Table(
    "meetings",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("jurisdiction", Text, nullable=False, index=True),  # the convening node
    Column("held_on", Date, nullable=False),
    Column("present", ARRAY(Text), nullable=False),  # Agency codes
    Column("convened_by", Text, nullable=False),
    Column("convened_at", DateTime(timezone=True), nullable=False),
)

meeting_cases = Table(
    "meeting_cases",
    metadata,
    Column("meeting_id", UUID(as_uuid=True), ForeignKey("meetings.id"), primary_key=True),
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("decision", Text, nullable=False),  # MeetingDecision
    Column("decided_by", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
)

action_items = Table(
    "action_items",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("meeting_id", UUID(as_uuid=True), ForeignKey("meetings.id"), nullable=False, index=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("agency", Text, nullable=False),  # Agency
    Column("task", Text, nullable=False),  # ActionTask
    Column("jurisdiction", Text, nullable=False),  # the case's territory
    Column("due_on", Date, nullable=False),
    Column("state", Text, nullable=False),  # ActionItemState
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("done_by", Text),
    Column("done_at", DateTime(timezone=True)),
    Column("holder", Text, nullable=False),  # the node answerable now: the case's, then each level up
    Column("escalate_at", DateTime(timezone=True), nullable=False, index=True),  # when it climbs next
    Column("escalations", Integer, nullable=False, server_default="0"),
)

DOMAIN_TABLES = (
    cases,
    referrals,
    notes,
    providers,
    contracts,
    contract_units,
    services,
    service_units,
    service_steps,
    feedback,
    complaints,
    meetings,
    meeting_cases,
    action_items,
)
