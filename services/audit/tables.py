"""Audit's own tables (schema `audit`): the append-only, hash-chained ledger and its signed
Merkle checkpoints."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

SCHEMA = "audit"
metadata = MetaData(schema=SCHEMA)

# The ledger's row number, for paging and the order of a timeline: not hashed (concurrent writers
# of different chains take numbers as they insert); an entry's place is its chain and position.
LEDGER_SEQ = Sequence("ledger_seq", metadata=metadata)

ledger = Table(
    "ledger",
    metadata,
    Column("seq", BigInteger, LEDGER_SEQ, primary_key=True),
    Column("event_key", Text, nullable=False, unique=True),  # the event id (or topic/partition/offset)
    Column("case_id", UUID(as_uuid=True), index=True),
    Column("event_type", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("occurred_at", Text),
    Column("record", JSONB, nullable=False),  # exactly what the hash covers
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The hash chain the entry belongs to (one per partition of the ledger's input, "topic/partition";
    # "" the one chain of before audit_0007) and its place in it, which its hash covers.
    Column("chain", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
)
Index("ledger_chain_position", ledger.c.chain, ledger.c.position, unique=True)
# The access log across children, newest first (audit_0005; its reader and territory indexes are
# expressions over the payload, created by that migration alone).
Index("ledger_access_seq", ledger.c.seq, postgresql_where=text("event_type = 'access.recorded'"))
# An identification is keyed by the case it merged away; the case that remains finds it by the payload's
# `surviving_case_id` (an expression index of audit_0006 alone).
LINK_EVENTS = ("child.linked", "child.link_undone")

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True),
    Column("root", LargeBinary, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    # Version 2: each chain's head {chain: [size, root hex]} (signed through `root`), and each
    # chain's Merkle frontier {chain: base64 of its subtrees' roots} (not signed: a restarting
    # service checks it against the head and goes on from it instead of re-reading the ledger).
    Column("heads", JSONB),
    Column("frontiers", JSONB),
)

# What the figures count (services/audit/indicators.py): each counted entry's happenings, written in
# the transaction that appends the entry, so they are always exactly what the ledger says (audit_0009).
happenings = Table(
    "happenings",
    metadata,
    Column("event_key", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("jurisdiction", Text),
    Column("code", Text),
    Column("agency", Text),
    Column("reason", Text),
    Column("ref", UUID(as_uuid=True)),
    Column("child_ref", UUID(as_uuid=True)),
    Column("age", Integer),
    Column("categories", ARRAY(Text), nullable=False),
    Column("emergency", Boolean),
    Column("due_at", DateTime(timezone=True)),
    Column("number", Text),
)
# A node's cases: those reported or moved into its subtree.
Index(
    "happenings_place",
    happenings.c.jurisdiction,
    postgresql_where=text("kind IN ('reported', 'transferred')"),
    postgresql_ops={"jurisdiction": "text_pattern_ops"},
)

# What each case is at any moment, made from its happenings by the database in the statement that writes
# them (audit_0010's triggers): the bulletin reads a row a case (services/audit/counted.py).
case_spans = Table(
    "case_spans",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("since", DateTime(timezone=True), primary_key=True),  # in force at E when since < E
    Column("until", DateTime(timezone=True)),  # … and until is none or not before E
    Column("place", Text),
    Column("open", Boolean, nullable=False),
    Column("opened_at", DateTime(timezone=True)),  # the case's firsts: each counts at E if before E
    Column("age", Integer),
    Column("categories", ARRAY(Text), nullable=False),
    Column("graded_at", DateTime(timezone=True)),
    Column("grade", Text),
    Column("red_at", DateTime(timezone=True)),
    Column("assessed_at", DateTime(timezone=True)),
    Column("planned_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
)
referral_facts = Table(
    "referral_facts",
    metadata,
    Column("event_key", Text, primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False),
    Column("ref", UUID(as_uuid=True)),
    Column("agency", Text),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True)),
    Column("emergency", Boolean, nullable=False),
    Column("answered_at", DateTime(timezone=True)),
    Column("answer_code", Text),
    Column("declined_at", DateTime(timezone=True)),
    Column("done_at", DateTime(timezone=True)),
)
service_spans = Table(
    "service_spans",
    metadata,
    Column("case_id", UUID(as_uuid=True), nullable=False),
    Column("ref", UUID(as_uuid=True)),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True)),
    Column("code", Text),
    Column("due_at", DateTime(timezone=True)),
)
# The bulletin's reads (audit_0010): the period's reports, closures and action items; a child's reports
# before one; an action item's changes; a node's cases; the month's new cases; a case's referrals and
# services; the month's referrals.
Index("happenings_kind_at", happenings.c.kind, happenings.c.at)
Index("happenings_child", happenings.c.child_ref, happenings.c.at, postgresql_where=text("kind = 'reported'"))
Index("happenings_item", happenings.c.ref, postgresql_where=text("kind = 'action_item'"))
Index("case_spans_place", case_spans.c.place, postgresql_ops={"place": "text_pattern_ops"})
Index("case_spans_opened", case_spans.c.opened_at)
Index("referral_facts_case", referral_facts.c.case_id)
Index("referral_facts_sent", referral_facts.c.sent_at)
Index("service_spans_case", service_spans.c.case_id)

# A month's counts kept once it is over, with the snapshot they saw, and the marks of the changes since
# (audit_0011, services/audit/counted.py): a kept count holds while no change reaching before its end was
# committed unseen by that snapshot.
change_marks = Table(
    "change_marks",
    metadata,
    Column("xid", BigInteger, nullable=False),  # the writer's transaction
    Column("reach", DateTime(timezone=True), nullable=False),  # periods ending after it may change
    Column("made_at", DateTime(timezone=True), nullable=False),
)
kept_periods = Table(
    "kept_periods",
    metadata,
    Column("node", Text, primary_key=True),
    Column("start", DateTime(timezone=True), primary_key=True),
    Column("end", DateTime(timezone=True), primary_key=True),
    Column("children", ARRAY(Text), primary_key=True),
    Column("counted", JSONB, nullable=False),
    Column("snapshot", Text, nullable=False),  # pg_snapshot as text
    Column("kept_at", DateTime(timezone=True), nullable=False),
)
running_bulletins = Table(
    "running_bulletins",
    metadata,
    Column("node", Text, primary_key=True),
    Column("children", ARRAY(Text), primary_key=True),
    Column("start", DateTime(timezone=True), nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("heads", JSONB, nullable=False),
    Column("figures", JSONB, nullable=False),
)
Index("change_marks_xid", change_marks.c.xid)
Index("change_marks_made", change_marks.c.made_at)

DOMAIN_TABLES = (ledger, checkpoints, happenings)
