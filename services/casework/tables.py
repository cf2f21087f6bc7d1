"""Casework's own tables (schema `casework`): each case as a whole — who owns it, where it is,
what is due next — the referrals it waits on, learned from the topics, the requests for approval, and
the notes written with casework's actions (encrypted)."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from shared.contracts.vocabulary import CaseStatus
from shared.notes import notes_table

SCHEMA = "casework"
metadata = MetaData(schema=SCHEMA)

cases = Table(
    "cases",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    # Null until the event that names it arrives (the topics a case's events travel on are not
    # ordered among themselves): a case is listed once its territory is known.
    Column("child_ref", UUID(as_uuid=True)),
    Column("jurisdiction", Text),
    Column("categories", ARRAY(Text), nullable=False),
    Column("risk_level", Text),  # the grade in force
    Column("initial_risk_level", Text),  # the grade the rules produced
    Column("stage", Text, nullable=False),
    Column("state", Text, nullable=False),  # open | closed
    Column("owner_node", Text),  # the township station answerable for the case
    Column("owner_ref", Text),  # the caseworker who owns it; null: the station, no one named yet
    Column("assigned_at", DateTime(timezone=True)),
    Column("reported_at", DateTime(timezone=True)),  # the latest report
    Column("graded_at", DateTime(timezone=True)),  # the first grade
    Column("review_due_at", DateTime(timezone=True)),  # the written review's deadline
    Column("reviewed_at", DateTime(timezone=True)),
    Column("review_escalated_for", DateTime(timezone=True)),  # the review deadline already escalated
    Column("blind_spot_escalated_at", DateTime(timezone=True)),  # when this blind spot was escalated
    Column("visit_due_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_reason", Text),
    # The stage the case had reached when it closed: an undone link reopens it there. casework_0008.
    Column("closed_from_stage", Text),
    # The grade in force when it closed: reopening a case red then needs a supervisor. casework_0009.
    Column("closed_risk_level", Text),
    # When a person last reopened it (POST /v1/cases/{id}/reopening): its review is due again from then,
    # and a closure rule met before then closes nothing. casework_0009.
    Column("reopened_at", DateTime(timezone=True)),
    # The case a link merged this one into (its child's reports are there), while the link stands: such
    # a case is not reopened by a person (the link's undo reopens it). casework_0009.
    Column("merged_into", UUID(as_uuid=True)),
    Column("closure_rule_met_at", DateTime(timezone=True)),  # follow-up's closure rule, when last met
    Column("case_number", Text),  # the number people say and write (intake's, on case.reported)
    Column("emergency", Boolean, nullable=False, server_default=false()),  # immediate danger, by the grade
    Column("last_visited_at", DateTime(timezone=True)),  # the latest follow-up visit
    # Derived from the above and the case's referrals whenever either changes, for the worklist.
    Column("open_referrals", Integer, nullable=False, server_default="0"),
    Column("pending_approvals", Integer, nullable=False, server_default="0"),
    Column("next_due_at", DateTime(timezone=True)),
    Column("next_due_kind", Text),  # review | referral | visit
    Column("urgency", SmallInteger, nullable=False),  # 0 emergency, 1 red, 2 orange, 3 blue, 4 not graded
    Column("sort_due_at", DateTime(timezone=True), nullable=False),  # next_due_at, or the far future
    Column("last_activity_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
# The worklist: open cases by urgency, then the earliest due date (keyset pagination).
Index(
    "cases_worklist",
    cases.c.urgency,
    cases.c.sort_due_at,
    cases.c.case_id,
    postgresql_where=text(f"state = '{CaseStatus.open}'"),
)
# Territory prefixes (`jurisdiction LIKE '1404%'`) and "my cases".
Index("cases_by_territory", cases.c.jurisdiction, postgresql_ops={"jurisdiction": "text_pattern_ops"})
Index("cases_by_owner", cases.c.owner_ref, postgresql_where=text("owner_ref IS NOT NULL"))
Index("cases_by_number", cases.c.case_number, unique=True, postgresql_where=text("case_number IS NOT NULL"))
# The sweep's two questions: reviews not recorded, and cases with no owner or nothing due.
Index(
    "cases_review_pending",
    cases.c.review_due_at,
    postgresql_where=text(f"state = '{CaseStatus.open}' AND reviewed_at IS NULL"),
)
Index(
    "cases_blind_spots",
    cases.c.last_activity_at,
    postgresql_where=text(f"state = '{CaseStatus.open}' AND (owner_node IS NULL OR next_due_at IS NULL)"),
)

referrals = Table(
    "referrals",
    metadata,
    Column("referral_id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("agency", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("ack_due_at", DateTime(timezone=True)),
)

# The services of the case's plan, as referral announces them (service.status): a case does not close
# while one is open, and an open one's due date is among what is due next. Created by casework_0011.
services = Table(
    "services",
    metadata,
    Column("service_id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("kind", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),  # the end of its due date, China time
    Column("changed_at", DateTime(timezone=True), nullable=False),  # of the latest change applied
)

# What a caseworker asked a supervisor to approve: screening a case out, closing it, moving it to
# another territory (decided by that territory's supervisors).
approvals = Table(
    "approvals",
    metadata,
    Column("approval_id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("kind", Text, nullable=False),  # screen_out | close | transfer
    Column("reason", Text, nullable=False),
    Column("jurisdiction", Text, nullable=False),  # the case's, when asked: whose supervisors decide
    Column("to_jurisdiction", Text),  # a transfer's destination: whose supervisors decide it
    Column("requested_by", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("state", Text, nullable=False),  # pending | approved | rejected
    Column("decided_by", Text),
    Column("decided_at", DateTime(timezone=True)),
    Column("decision_reason", Text),
)
# One pending request of a kind per case; the supervisors' worklist of pending requests.
Index(
    "approvals_one_pending",
    approvals.c.case_id,
    approvals.c.kind,
    unique=True,
    postgresql_where=text("state = 'pending'"),
)
Index("approvals_pending", approvals.c.requested_at, postgresql_where=text("state = 'pending'"))
# The receiving territory's pending transfers.
Index(
    "approvals_pending_to",
    approvals.c.to_jurisdiction,
    postgresql_where=text("state = 'pending' AND to_jurisdiction IS NOT NULL"),
    postgresql_ops={"to_jurisdiction": "text_pattern_ops"},
)

# What people wrote with an assignment, a written review, a request for approval or its decision (about:
# the request). Created by casework_0007.
notes = notes_table(metadata)

DOMAIN_TABLES = (cases, referrals, services, approvals, notes)
