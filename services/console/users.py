"""The console's shell over people and sessions: add, disable and reset a person and link their
identity provider's account (`cpnet users`), check a sign-in against services/console/accounts.py's
rules, and open, find and close sessions. A session's cookie holds a random token; the table keeps
only its SHA-256."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.console import tables as t
from services.console.accounts import (
    SESSION_LIFETIME,
    Account,
    Outcome,
    check_password,
    normalised_username,
    session_alive,
    signed_in,
)
from services.console.history import Someone
from shared.auth import Principal, principal_of
from shared.db.engine import Transaction

# argon2id with the library's defaults (RFC 9106's second recommended set).
HASHER = PasswordHasher()
# Verified against when the username is unknown, so a wrong username takes as long as a wrong password.
_NOBODY = HASHER.hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    """What `cpnet users` cannot do; one line, never a password."""


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


async def _account(session: Transaction, username: str, *, lock: bool = False) -> Account | None:
    query = select(t.users).where(t.users.c.username == normalised_username(username))
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    return Account.of_row(row) if row is not None else None


async def add_user(
    session: Transaction,
    username: str,
    password: str,
    *,
    role: str,
    agency: str | None,
    jurisdiction: str,
    now: datetime,
    provider: uuid.UUID | None = None,
    demonstration: bool = False,
) -> Account:
    """A new person, with the role, agency and territory a token of theirs will carry (the same
    rules as every token: shared/auth.py). Only the demonstration's people (`demonstration`) may
    have the demonstration's public password."""
    name = normalised_username(username)
    if not name or len(name) > 64 or any(ch.isspace() for ch in name):
        raise UserError("a username has 1 to 64 characters and no spaces")
    user_id = uuid.uuid4()
    subject = f"u-{user_id.hex[:16]}"
    try:
        principal = principal_of(
            subject=subject, role=role, agency=agency, jurisdiction=jurisdiction, provider=provider
        )
        check_password(password, username=name, demonstration=demonstration)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if await _account(session, name) is not None:
        raise UserError(f"user {name!r} exists already")
    values = {
        "user_id": user_id,
        "username": name,
        "subject": subject,
        "password_hash": HASHER.hash(password),
        "role": role,
        "agency": agency,
        "provider": principal.provider,
        "jurisdiction": jurisdiction,
        "password_changed_at": now,
    }
    await session.execute(insert(t.users).values(**values))
    return Account(**values)


async def disable_user(session: Transaction, username: str) -> Account:
    """The person can no longer sign in, and every session of theirs ends now."""
    account = await _account(session, username, lock=True)
    if account is None:
        raise UserError(f"no user {normalised_username(username)!r}")
    await session.execute(update(t.users).where(t.users.c.user_id == account.user_id).values(disabled=True))
    await session.execute(delete(t.sessions).where(t.sessions.c.user_id == account.user_id))
    return dataclasses.replace(account, disabled=True)


async def reset_password(session: Transaction, username: str, password: str, *, now: datetime) -> Account:
    """A new password (the lock-out, if any, ends; every session of theirs ends too)."""
    account = await _account(session, username, lock=True)
    if account is None:
        raise UserError(f"no user {normalised_username(username)!r}")
    try:
        check_password(password, username=account.username)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    changes = {
        "password_hash": HASHER.hash(password),
        "password_changed_at": now,
        "failed_attempts": 0,
        "locked_until": None,
    }
    await session.execute(update(t.users).where(t.users.c.user_id == account.user_id).values(**changes))
    await session.execute(delete(t.sessions).where(t.sessions.c.user_id == account.user_id))
    return dataclasses.replace(account, **changes)


async def link_identity(session: Transaction, username: str, *, issuer: str, subject: str) -> Account:
    """The identity provider's account (its issuer, and its `sub` for the person) that signs the
    person in from now on — an administrator's decision, never a claim's."""
    account = await _account(session, username, lock=True)
    if account is None:
        raise UserError(f"no user {normalised_username(username)!r}")
    if not issuer or not subject or len(issuer) > 2048 or len(subject) > 255:
        raise UserError("an identity is an issuer (up to 2,048 characters) and a subject (up to 255)")
    u = t.users.c
    holder = (
        await session.execute(
            select(u.username).where(
                u.oidc_issuer == issuer, u.oidc_subject == subject, u.user_id != account.user_id
            )
        )
    ).scalar()
    if holder is not None:
        raise UserError(f"that identity is linked to {holder!r} already")
    try:
        await session.execute(
            update(t.users)
            .where(u.user_id == account.user_id)
            .values(oidc_issuer=issuer, oidc_subject=subject)
        )
    except IntegrityError:  # linked to someone else meanwhile
        raise UserError("that identity is linked to another user already") from None
    return dataclasses.replace(account, oidc_issuer=issuer, oidc_subject=subject)


async def unlink_identity(session: Transaction, username: str) -> Account:
    """The person no longer signs in through the identity provider; their sessions end now."""
    account = await _account(session, username, lock=True)
    if account is None:
        raise UserError(f"no user {normalised_username(username)!r}")
    await session.execute(
        update(t.users)
        .where(t.users.c.user_id == account.user_id)
        .values(oidc_issuer=None, oidc_subject=None)
    )
    await session.execute(delete(t.sessions).where(t.sessions.c.user_id == account.user_id))
    return dataclasses.replace(account, oidc_issuer=None, oidc_subject=None)


async def linked_to(session: Transaction, *, issuer: str, subject: str) -> Account | None:
    """The enabled account an administrator linked to this identity (the provider's issuer and
    `sub`, compared exactly), or None: a name the provider vouches for matches nobody."""
    u = t.users.c
    found = await session.execute(select(t.users).where(u.oidc_issuer == issuer, u.oidc_subject == subject))
    row = found.first()
    account = Account.of_row(row) if row is not None else None
    return account if account is not None and not account.disabled else None


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(
    session: Transaction, username: str, password: str, *, now: datetime
) -> tuple[Outcome, Account | None]:
    """One sign-in attempt, judged and counted. Every attempt costs one argon2 verification, the
    same work whether the username is unknown, the password wrong, the account disabled or waiting,
    so neither the answer nor its time tells them apart."""
    account = await _account(session, username, lock=True)
    if account is None:
        _verify(_NOBODY, password)
        return "wrong_password", None
    outcome, after = signed_in(account, _verify(account.password_hash, password), now)
    if after != account:
        await session.execute(
            update(t.users)
            .where(t.users.c.user_id == account.user_id)
            .values(failed_attempts=after.failed_attempts, locked_until=after.locked_until)
        )
    return outcome, after if outcome == "signed_in" else None


async def open_session(session: Transaction, account: Account, *, now: datetime) -> tuple[str, str]:
    """A new session: the cookie's token (kept nowhere but the browser) and its CSRF token."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await session.execute(
        insert(t.sessions).values(
            session_hash=_token_hash(token),
            user_id=account.user_id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return token, csrf


@dataclasses.dataclass(frozen=True)
class SignedIn:
    """The person a request's session belongs to, as the services will know them."""

    account: Account
    principal: Principal
    csrf_token: str


async def session_of(
    session: Transaction, token: str | None, *, now: datetime, touch: bool = True
) -> SignedIn | None:
    """The live session a cookie names (its last use noted, unless `touch` is off: a page's own
    refresh is not the person's use), or None: unknown, idle too long, past its end, or its person
    disabled — an ended session is removed."""
    if not token:
        return None
    s, u = t.sessions.c, t.users.c
    row = (
        await session.execute(
            select(t.sessions, t.users)
            .join(t.users, u.user_id == s.user_id)
            .where(s.session_hash == _token_hash(token))
        )
    ).first()
    if row is None:
        return None
    if row.disabled or not session_alive(last_seen_at=row.last_seen_at, expires_at=row.expires_at, now=now):
        await session.execute(delete(t.sessions).where(s.session_hash == row.session_hash))
        return None
    if touch:
        seen = update(t.sessions).where(s.session_hash == row.session_hash).values(last_seen_at=now)
        await session.execute(seen)
    account = Account.of_row(row)
    principal = principal_of(
        subject=account.subject,
        role=account.role,
        agency=account.agency,
        jurisdiction=account.jurisdiction,
        provider=account.provider,
    )
    return SignedIn(account, principal, row.csrf_token)


async def caseworkers_for(session: Transaction, jurisdiction: str) -> list[tuple[str, str]]:
    """(subject, username) of every caseworker whose territory holds `jurisdiction`: whom a
    supervisor may name the case's owner."""
    u = t.users.c
    rows = await session.execute(
        select(u.subject, u.username, u.jurisdiction)
        .where(u.role == "caseworker", u.disabled.is_(False))
        .order_by(u.username)
    )
    return [(row.subject, row.username) for row in rows if jurisdiction.startswith(row.jurisdiction)]


async def active_person(session: Transaction, subject: str) -> Principal | None:
    """Who the active console user of this subject is (role, agency, territory): what the console's
    directory vouches for to a service (a case's owner, to casework); None for a disabled user or a
    subject nobody has."""
    u = t.users.c
    row = (
        await session.execute(
            select(u.subject, u.role, u.agency, u.jurisdiction, u.provider).where(
                u.subject == subject, u.disabled.is_(False)
            )
        )
    ).first()
    if row is None:
        return None
    return principal_of(
        subject=row.subject,
        role=row.role,
        agency=row.agency,
        jurisdiction=row.jurisdiction,
        provider=row.provider,
    )


async def usernames_of(session: Transaction, subjects: Iterable[str | None]) -> dict[str, str]:
    """Whom each pseudonymous subject names, for a person's eyes (those of console users)."""
    wanted = sorted({subject for subject in subjects if subject})
    if not wanted:
        return {}
    u = t.users.c
    return dict((await session.execute(select(u.subject, u.username).where(u.subject.in_(wanted)))).all())


async def close_session(session: Transaction, token: str | None) -> None:
    if token:
        await session.execute(delete(t.sessions).where(t.sessions.c.session_hash == _token_hash(token)))


async def people_of(session: Transaction, subjects: Iterable[str | None]) -> dict[str, Someone]:
    """Whom each pseudonymous subject names, and their role, for a history's eyes (console users')."""
    wanted = sorted({subject for subject in subjects if subject})
    if not wanted:
        return {}
    u = t.users.c
    rows = await session.execute(select(u.subject, u.username, u.role).where(u.subject.in_(wanted)))
    return {row.subject: Someone(row.username, row.role) for row in rows}


async def subject_named(session: Transaction, username: str) -> str | None:
    """The pseudonymous subject of the console user of that name, if there is one."""
    u = t.users.c
    found = await session.execute(select(u.subject).where(u.username == normalised_username(username)))
    return found.scalar_one_or_none()
