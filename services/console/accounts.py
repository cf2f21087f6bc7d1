"""The console's rules for people and sessions, pure: who may sign in (a right password, an
account neither disabled nor waiting after wrong passwords), how long repeated failures make an
account wait, what a password must be, and how long a session lasts. The shell (users.py) reads
and writes the rows."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from zxcvbn import zxcvbn

from shared.secret_strength import folded
from shared.settings import PUBLIC_DEV_TEXTS

# Wrong passwords in a row taken without delay (typing mistakes). From the next one on, each wrong
# password makes the account wait before it takes another: FIRST_DELAY, doubling, at most
# LONGEST_DELAY. A stranger can hold an account only while they keep guessing, and a minute after
# they stop it is open again (docs/ARCHITECTURE.md: the lock-out); the sign-in throttle and the
# password rules make what they can guess meanwhile worthless.
MAX_FAILURES = 5
FIRST_DELAY = timedelta(seconds=2)
LONGEST_DELAY = timedelta(minutes=1)
# A session ends after this long without a request, and after SESSION_LIFETIME whatever happens:
# a shared office computer left signed in is not signed in for long.
IDLE_TIMEOUT = timedelta(minutes=30)
SESSION_LIFETIME = timedelta(hours=10)
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
# zxcvbn's score, 0 to 4: 3 is "safely unguessable" (about 10^10 guesses), far beyond what the
# throttle and the delays let anyone try online, and a stolen hash costs an argon2id per guess.
MIN_PASSWORD_SCORE = 3
# zxcvbn refuses to judge longer passwords (its own bound on its work); the rest adds to their strength.
SCORED_CHARACTERS = 72
# The demonstration people's password, printed by `make run` and in this repository: only `cpnet
# demo` may give it (services/console/demo.py); nowhere else is a password that holds it taken.
DEMO_PASSWORD = "cpnet-demo-password"
PUBLIC_PASSWORDS = (DEMO_PASSWORD, *PUBLIC_DEV_TEXTS)

Outcome = Literal["signed_in", "wrong_password", "waiting", "disabled"]


class PasswordRejected(ValueError):
    """A new password the policy refuses; the message says why (never the password)."""


@dataclass(frozen=True)
class Account:
    """One row of `console.users`."""

    user_id: uuid.UUID
    username: str
    subject: str
    password_hash: str
    role: str
    jurisdiction: str
    password_changed_at: datetime
    agency: str | None = None
    provider: uuid.UUID | None = None  # a provider worker's organisation
    disabled: bool = False
    failed_attempts: int = 0
    locked_until: datetime | None = None
    # The identity provider's account the person signs in with (OpenID Connect), once an
    # administrator has linked it: the provider's issuer and its `sub` for the person.
    oidc_issuer: str | None = None
    oidc_subject: str | None = None

    @classmethod
    def of_row(cls, row: Any) -> Account:
        return cls(**{f.name: row._mapping[f.name] for f in dataclasses.fields(cls)})


def normalised_username(username: str) -> str:
    """Usernames match whatever the case or surrounding spaces they are typed with."""
    return username.strip().casefold()


def check_password(password: str, *, username: str, demonstration: bool = False) -> None:
    """The policy a new password meets: 12 to 128 characters, not the username, none of the
    passwords printed in this repository (but for the demonstration's own people), and hard to
    guess by zxcvbn's measure (score 3 of 4), the username and the product's name counting as known."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if normalised_username(password) == normalised_username(username):
        raise PasswordRejected("a password is not the username")
    if not demonstration and any(folded(known) in folded(password) for known in PUBLIC_PASSWORDS):
        raise PasswordRejected(
            "a password is not one printed in cpnet's own files (the demonstration's or development's)"
        )
    known = [username, normalised_username(username), "cpnet", "console"]
    judged = zxcvbn(password[:SCORED_CHARACTERS], user_inputs=known)
    if judged["score"] < MIN_PASSWORD_SCORE:
        why = judged["feedback"]["warning"] or "it follows a common pattern"
        raise PasswordRejected(
            f"a password this easy to guess is refused ({why.rstrip('.')}; "
            "a few unrelated words make a strong one)"
        )


def delay_after(failures: int) -> timedelta | None:
    """How long an account waits after `failures` wrong passwords in a row, if at all."""
    if failures < MAX_FAILURES:
        return None
    return min(LONGEST_DELAY, FIRST_DELAY * 2 ** min(failures - MAX_FAILURES, 16))


def signed_in(account: Account, password_ok: bool, now: datetime) -> tuple[Outcome, Account]:
    """The outcome of one sign-in attempt and the account's counters after it. A disabled account
    is refused whatever the password; so is one still waiting after wrong passwords (a right one
    does not pass early, or guessing would go on unslowed) — an attempt while it waits is not
    counted, so the wait never grows beyond the last wrong password's."""
    if account.disabled:
        return "disabled", account
    if account.locked_until is not None and account.locked_until > now:
        return "waiting", account
    if not password_ok:
        failures = account.failed_attempts + 1
        delay = delay_after(failures)
        return "wrong_password", dataclasses.replace(
            account, failed_attempts=failures, locked_until=now + delay if delay else None
        )
    return "signed_in", dataclasses.replace(account, failed_attempts=0, locked_until=None)


def session_alive(*, last_seen_at: datetime, expires_at: datetime, now: datetime) -> bool:
    """A session serves a request until it has been idle IDLE_TIMEOUT or reached its end."""
    return now < expires_at and now - last_seen_at < IDLE_TIMEOUT
