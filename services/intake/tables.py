"""Intake's own tables (schema `intake`): the child registry, cases and the counters of their numbers,
reports, idempotency keys, the per-child information archive, the links that identified children
nobody could name and the notes written with their undoing. Identity, narratives and notes are encrypted."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from shared.contracts.vocabulary import CaseStatus
from shared.notes import notes_table

SCHEMA = "intake"
metadata = MetaData(schema=SCHEMA)

# A child, by pseudonymous id. The identity is one AES-GCM token (record id as associated
# data); the digests are keyed HMACs, so exact matching works without keeping it in clear.
children = Table(
    "children",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("national_id_digest", Text, unique=True),
    Column("match_digest", Text, index=True),
    Column("identity", LargeBinary, nullable=False),
    Column("jurisdiction", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # A child nobody could name when reported: described, never matched (it has no digests) until a
    # person identifies it (child_links). Added by intake_0007.
    Column("provisional", Boolean, nullable=False, server_default=false()),
    # The child this one was merged into by a link (its digests moved there); None when undone.
    Column("merged_into", UUID(as_uuid=True), ForeignKey("intake.children.id")),
)

cases = Table(
    "cases",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("child_id", UUID(as_uuid=True), ForeignKey(children.c.id), nullable=False),
    Column("state", Text, nullable=False, server_default=CaseStatus.open.value),
    Column("stage", Text, nullable=False, server_default="screening"),
    Column("jurisdiction", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("closed_at", DateTime(timezone=True)),
    # The number people say and write (shared/case_number.py), given when the case opens; kept
    # when it is reopened. Added by intake_0006.
    Column("case_number", Text, nullable=False),
    # When an undone link reopened the case: a closure sent before then no longer closes it. intake_0007.
    Column("reopened_at", DateTime(timezone=True)),
    UniqueConstraint("case_number", name="cases_case_number"),
)
# One open case per child: reports from every channel join it.
Index(
    "cases_one_open_per_child",
    cases.c.child_id,
    unique=True,
    postgresql_where=text(f"state = '{CaseStatus.open}'"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), ForeignKey(cases.c.id), nullable=False, index=True),
    Column("child_id", UUID(as_uuid=True), ForeignKey(children.c.id), nullable=False, index=True),
    Column("channel", Text, nullable=False),
    Column("source", Text, nullable=False),  # "hotline" (Kafka) or the HTTP caller's subject
    Column("external_id", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("jurisdiction", Text, nullable=False),
    Column("age_years", Integer),
    Column("categories", ARRAY(Text), nullable=False),
    Column("indicators", ARRAY(Text), nullable=False),
    Column("confidential", LargeBinary, nullable=False),  # reporter + narrative, encrypted
    Column("recorded_by", Text, nullable=False),
    # The keyed digest of the reporter's phone (LookupHasher.reporter_phone_digest), to find the cases a
    # caller reported; None without a phone, and for reports stored before intake_0008 added it.
    Column("reporter_phone_digest", Text, index=True),
    # The same hotline id delivered twice is one report.
    # One source's id for its report; another institution may use the same id for its own.
    UniqueConstraint("source", "channel", "external_id", name="reports_source_channel_external_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_digest", Text, nullable=False),
    Column("report_id", UUID(as_uuid=True), nullable=False),
    Column("case_id", UUID(as_uuid=True), nullable=False),
    Column("child_ref", UUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The mission's information archive of each child: situation at home, at school and in
# the community, difficulties and risks. Free text, hence encrypted; never on the bus.
archives = Table(
    "archives",
    metadata,
    Column("child_id", UUID(as_uuid=True), ForeignKey(children.c.id), primary_key=True),
    Column("content", LargeBinary, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_by", Text, nullable=False),
)

DOMAIN_TABLES = (children, cases, reports, idempotency_keys, archives)

# The referrals intake has heard of (from `referral.to.<agency>` and `referral.status`): an
# agency officer may read a child's details while a referral of the case to the agency is
# open. Created by migration intake_0003, not with DOMAIN_TABLES.
referral_grants = Table(
    "referral_grants",
    metadata,
    Column("referral_id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False),
    Column("agency", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # A referral of a child in immediate danger: the police read it without a consent. Added by intake_0011.
    Column("emergency", Boolean, nullable=False, server_default=false()),
)
Index("referral_grants_case_agency", referral_grants.c.case_id, referral_grants.c.agency)

# The last case number given in each county and year: a batch reserves a range for its new cases
# with one upsert (services/intake/reports.py). Created by intake_0006.
case_numbers = Table(
    "case_numbers",
    metadata,
    Column("county", Text, primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last", BigInteger, nullable=False),
)

# Each surveyed child's row of a screening import (排查摸底), kept in the child's record: the
# family situation, school and health, encrypted like the identity. Created by intake_0005.
screenings = Table(
    "screenings",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("external_id", Text, nullable=False, unique=True),  # "<file digest>-<row>": one row, once
    Column("child_id", UUID(as_uuid=True), ForeignKey(children.c.id), nullable=False, index=True),
    Column("case_id", UUID(as_uuid=True), ForeignKey(cases.c.id)),  # only when the survey found a difficulty
    Column("report_id", UUID(as_uuid=True), ForeignKey(reports.c.id)),
    Column("jurisdiction", Text, nullable=False),
    Column("surveyed_at", DateTime(timezone=True), nullable=False),
    Column("surveyor_ref", Text, nullable=False),
    Column("categories", ARRAY(Text), nullable=False),
    Column("indicators", ARRAY(Text), nullable=False),
    Column("situation", LargeBinary, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Each identification of a provisional child (services/intake/identification.py): who decided, when and
# why, and what it changed — enough to put both children and both cases back as they were when a
# supervisor undoes it. The survivor's identity before the link is kept as it was (its token).
# Created by intake_0007.
child_links = Table(
    "child_links",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("provisional_id", UUID(as_uuid=True), ForeignKey(children.c.id), nullable=False, index=True),
    Column("child_id", UUID(as_uuid=True), ForeignKey(children.c.id), nullable=False),  # the one that remains
    Column("merged_child_id", UUID(as_uuid=True), ForeignKey(children.c.id)),  # None: given its identity
    Column("case_id", UUID(as_uuid=True), ForeignKey(cases.c.id), nullable=False),  # the case that remains
    Column("merged_case_id", UUID(as_uuid=True), ForeignKey(cases.c.id)),
    Column("moved_reports", ARRAY(UUID(as_uuid=True)), nullable=False),  # from the merged case to the other
    Column("previous_identity", LargeBinary, nullable=False),  # the survivor's token before the link
    Column("previous_national_id_digest", Text),
    Column("previous_match_digest", Text),
    Column("previous_provisional", Boolean, nullable=False),
    Column("merged_national_id_digest", Text),  # moved from the merged child to the survivor
    Column("merged_match_digest", Text),
    Column("reason", Text, nullable=False),
    Column("linked_by", Text, nullable=False),
    Column("linked_at", DateTime(timezone=True), nullable=False),
    Column("undo_reason", Text),
    Column("undone_by", Text),
    Column("undone_at", DateTime(timezone=True)),
)
# A case's links, as the case that remained or the one merged away (intake_0009).
Index("child_links_case_id", child_links.c.case_id)
Index("child_links_merged_case_id", child_links.c.merged_case_id)

# The notes written with intake's actions on a case: a supervisor's undo of a link, about the link, with
# the case that remained (shared/notes.py; sealed). Created by intake_0009.
notes = notes_table(metadata)

# The services of a case's plan intake has heard of (`service.status`): an open one entitles its
# provider's workers to read the child's details, as a referral does an agency. Created by intake_0011.
service_grants = Table(
    "service_grants",
    metadata,
    Column("service_id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False),
    Column("provider_id", UUID(as_uuid=True), nullable=False),
    Column("provider_kind", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("service_grants_case_provider", service_grants.c.case_id, service_grants.c.provider_id)

# Consent to share the child's details (services/intake/consent.py): the guardian's or the child's
# consent, a younger child's assent, or a supervisor's override, each with the kinds of agency or
# provider it names and its withdrawal once made. Created by intake_0011.
consents = Table(
    "consents",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), ForeignKey(cases.c.id), nullable=False, index=True),
    Column("kind", Text, nullable=False),
    Column("parties", ARRAY(Text), nullable=False),
    Column("given_on", Date, nullable=False),
    Column("given_by", Text),
    Column("way", Text),
    Column("reason", Text),
    Column("recorded_by", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_on", Date),
    Column("withdrawn_by", Text),
    Column("withdrawn_at", DateTime(timezone=True)),
)
