"""The console's rules for people and sessions: after five wrong passwords in a row an account
waits before it takes another — a little longer after each, never more than a minute, so a
stranger cannot lock anyone out for long (a right password does not pass a wait early, a disabled
account never opens) — a sign-in clears the count, a session ends when idle or at its end, and a
password meets the policy: long enough, not the username, not a password printed in this
repository, and hard to guess by zxcvbn's measure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.console.accounts import (
    DEMO_PASSWORD,
    IDLE_TIMEOUT,
    LONGEST_DELAY,
    MAX_FAILURES,
    Account,
    PasswordRejected,
    check_password,
    delay_after,
    session_alive,
    signed_in,
)
from shared.settings import INSECURE_DEV_AUTH_SECRET

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ACCOUNT = Account(
    user_id=uuid.uuid4(),
    username="li.hua",
    subject="u-1",
    password_hash="x",
    role="caseworker",
    jurisdiction="140402",
    password_changed_at=NOW,
)


def test_wrong_passwords_make_the_account_wait_a_little_longer_each_time() -> None:
    account = ACCOUNT
    for attempt in range(1, MAX_FAILURES):
        outcome, account = signed_in(account, False, NOW)
        assert (outcome, account.failed_attempts, account.locked_until) == ("wrong_password", attempt, None)
    waits = []
    now = NOW
    for _ in range(8):
        outcome, account = signed_in(account, False, now)
        assert outcome == "wrong_password", "the same answer as any wrong password"
        waits.append(account.locked_until - now)
        now = account.locked_until
    assert waits == [timedelta(seconds=s) for s in (2, 4, 8, 16, 32, 60, 60, 60)]


def test_a_right_password_does_not_pass_a_wait_and_an_attempt_meanwhile_is_not_counted() -> None:
    _, account = signed_in(ACCOUNT, False, NOW)
    for _ in range(MAX_FAILURES - 1):
        _, account = signed_in(account, False, NOW)
    waiting_until = account.locked_until
    assert signed_in(account, True, waiting_until - timedelta(seconds=1)) == ("waiting", account)
    assert signed_in(account, False, waiting_until - timedelta(seconds=1)) == ("waiting", account), (
        "hammering a waiting account does not make it wait longer"
    )
    outcome, account = signed_in(account, True, waiting_until)
    assert (outcome, account.failed_attempts, account.locked_until) == ("signed_in", 0, None)


def test_a_strangers_thousand_wrong_passwords_keep_the_account_shut_at_most_a_minute_after_the_last() -> None:
    account, now = ACCOUNT, NOW
    for _ in range(1000):
        _, account = signed_in(account, False, now)
        now = max(now, account.locked_until or now)
    assert delay_after(account.failed_attempts) == LONGEST_DELAY == timedelta(minutes=1)
    assert signed_in(account, True, account.locked_until)[0] == "signed_in", "the person is in a minute after"


def test_a_sign_in_clears_the_count_of_failures() -> None:
    _, account = signed_in(ACCOUNT, False, NOW)
    outcome, account = signed_in(account, True, NOW)
    assert (outcome, account.failed_attempts) == ("signed_in", 0)


def test_a_disabled_account_never_signs_in() -> None:
    disabled = Account(**{**ACCOUNT.__dict__, "disabled": True})
    assert signed_in(disabled, True, NOW) == ("disabled", disabled)


def test_a_session_ends_when_idle_and_at_its_end_however_active() -> None:
    assert session_alive(last_seen_at=NOW, expires_at=NOW + timedelta(hours=1), now=NOW + IDLE_TIMEOUT / 2)
    assert not session_alive(last_seen_at=NOW, expires_at=NOW + timedelta(hours=1), now=NOW + IDLE_TIMEOUT)
    assert not session_alive(
        last_seen_at=NOW, expires_at=NOW + timedelta(minutes=1), now=NOW + timedelta(minutes=1)
    )


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short-one", "at least 12"),
        ("Li.Hua", "at least 12"),
        ("  LI.HUA  ", "at least 12"),
        ("li.hua", "at least 12"),
        ("x" * 129, "at most 128"),
    ],
)
def test_a_password_meets_the_policy(password: str, why: str) -> None:
    with pytest.raises(PasswordRejected, match=why):
        check_password(password, username="li.hua")
    with pytest.raises(PasswordRejected, match="not the username"):
        check_password("wang.xiaoming", username="Wang.Xiaoming")
    check_password("correct horse battery", username="li.hua")


@pytest.mark.parametrize(
    "password",
    [
        "passwordpassword",
        "aaaaaaaaaaaa",
        "Password1234",
        "qwertyuiopasdf",
        "li.hua.li.hua.2",
        "1234567890123",
    ],
)
def test_a_common_or_trivial_password_is_refused(password: str) -> None:
    with pytest.raises(PasswordRejected, match="easy to guess") as refused:
        check_password(password, username="li.hua")
    assert password not in str(refused.value), "the message never repeats the password"


@pytest.mark.parametrize(
    "password",
    [DEMO_PASSWORD, "CPNET demo password!", "my cpnet-demo-password 2026", INSECURE_DEV_AUTH_SECRET],
)
def test_the_passwords_printed_in_the_repository_are_refused_but_for_the_demonstration(password: str) -> None:
    with pytest.raises(PasswordRejected, match="printed in cpnet's own files"):
        check_password(password, username="li.hua")
    check_password(DEMO_PASSWORD, username="supervisor", demonstration=True)
