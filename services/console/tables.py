"""The console's own tables (schema `console`): the people who sign in, and their sessions. It
keeps no case data: every page reads the services' APIs as the signed-in person."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import UUID

SCHEMA = "console"
metadata = MetaData(schema=SCHEMA)

users = Table(
    "users",
    metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("username", Text, nullable=False, unique=True),  # as typed at sign-in, case-folded
    # The pseudonymous id every token and event names this person by (never the username).
    Column("subject", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),  # argon2id, with its parameters and salt
    Column("role", Text, nullable=False),
    Column("agency", Text),  # an agency officer's agency
    Column("provider", UUID(as_uuid=True)),  # a provider worker's organisation (console_0003)
    Column("jurisdiction", Text, nullable=False),  # the territory prefix the person works in ("" everywhere)
    Column("disabled", Boolean, nullable=False, server_default="false"),
    # Wrong passwords in a row since the last sign-in.
    Column("failed_attempts", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime(timezone=True)),  # no attempt is taken before (accounts.py: the delays)
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The identity provider's account an administrator linked (`cpnet users link-oidc`): its
    # issuer and `sub`, the only claims OpenID Connect sign-in matches on.
    Column("oidc_issuer", Text),
    Column("oidc_subject", Text),
    UniqueConstraint("oidc_issuer", "oidc_subject", name="users_oidc_identity_key"),
    CheckConstraint("(oidc_issuer IS NULL) = (oidc_subject IS NULL)", name="users_oidc_identity_whole"),
)

sessions = Table(
    "sessions",
    metadata,
    # The SHA-256 of the cookie's random token: a copy of this table signs nobody in.
    Column("session_hash", Text, primary_key=True),
    Column(
        "user_id",
        UUID(as_uuid=True),
        ForeignKey(users.c.user_id, ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("csrf_token", Text, nullable=False),  # every form of the session carries it
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),  # however active, it ends then
)

DOMAIN_TABLES = (users, sessions)
