"""What a sign-in attempt passes before it is judged: the throttle (the 21st attempt from one
address within a minute waits, and the 11th on one account name however it is spelt), the sign-in
form's token bound to its cookie by the console's secret (a cookie and a token of an attacker's
choosing do not pass), and the browser's word that the form is the console's own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import pytest

from services.console.settings import ConsoleSettings
from services.console.sign_in_guards import SignInForms, SignInThrottle, posted_from_own_pages
from tests.unit.test_ratelimit import Clock  # the hand-moved clock of the token buckets' own tests


def test_the_twenty_first_attempt_from_one_address_within_a_minute_waits() -> None:
    clock = Clock()
    throttle = SignInThrottle.from_settings(ConsoleSettings(), clock=clock)
    assert [throttle.wait("203.0.113.7", f"name-{n}") for n in range(20)] == [0.0] * 20
    assert throttle.wait("203.0.113.7", "name-20") == pytest.approx(3.0), "one attempt every 3 s refills"
    assert throttle.wait("198.51.100.1", "name-21") == 0.0, "another address is not held back"
    clock.now += 3
    assert throttle.wait("203.0.113.7", "name-22") == 0.0


@pytest.mark.parametrize("spelt", ["LI.HUA", " li.hua ", "Li.Hua\t", "li.hua"])
def test_the_eleventh_attempt_on_one_account_waits_however_the_name_is_spelt(spelt: str) -> None:
    throttle = SignInThrottle.from_settings(ConsoleSettings(), clock=Clock())
    for n in range(10):
        assert throttle.wait(f"192.0.2.{n}", "li.hua") == 0.0
    assert throttle.wait("192.0.2.200", spelt) > 0, "from any address, in any spelling"
    assert throttle.wait("192.0.2.201", "wang.wei") == 0.0


def test_the_limits_are_the_operators_to_set() -> None:
    throttle = SignInThrottle.from_settings(
        ConsoleSettings(console_sign_ins_per_address_per_minute=2), clock=Clock()
    )
    assert [throttle.wait("a", f"n{n}") > 0 for n in range(3)] == [False, False, True]


def test_the_form_token_is_bound_to_its_cookie_by_the_consoles_secret() -> None:
    forms = SignInForms.from_settings(ConsoleSettings())
    cookie, token = forms.new()
    assert forms.matches(cookie, token)
    planted = secrets.token_urlsafe(32)
    assert not forms.matches(planted, planted), "the unsigned double submit of before"
    assert not forms.matches(cookie, cookie)
    assert not forms.matches(planted, token), "a token belongs to its own cookie only"
    guess = (
        base64.urlsafe_b64encode(hmac.new(b"", planted.encode(), hashlib.sha256).digest())
        .decode()
        .rstrip("=")
    )
    assert not forms.matches(planted, guess)
    assert not forms.matches(None, token) and not forms.matches(cookie, "") and not forms.matches(cookie, "é")
    assert not SignInForms.from_settings(ConsoleSettings()).matches(cookie, token), (
        "without a signing key each console process has a key of its own"
    )


def test_the_form_key_comes_from_the_signing_key_and_is_not_it() -> None:
    seed = base64.b64encode(secrets.token_bytes(32)).decode()
    one, two = (
        SignInForms.from_settings(ConsoleSettings(auth_signing_key=seed)),
        SignInForms.from_settings(ConsoleSettings(auth_signing_key=seed)),
    )
    assert one.key == two.key, "every console process with the same signing key takes the same forms"
    assert one.key != base64.b64decode(seed)
    another_seed = base64.b64encode(secrets.token_bytes(32)).decode()
    other = SignInForms.from_settings(ConsoleSettings(auth_signing_key=another_seed))
    cookie, token = one.new()
    assert not other.matches(cookie, token)


@pytest.mark.parametrize(
    ("site", "own"),
    [(None, True), ("same-origin", True), ("none", True), ("same-site", False), ("cross-site", False)],
)
def test_a_form_posted_from_a_sibling_or_another_site_is_not_the_consoles(
    site: str | None, own: bool
) -> None:
    assert posted_from_own_pages({} if site is None else {"sec-fetch-site": site}) is own
