"""What a sign-in attempt passes before it is judged: the throttle (token buckets per client address
and per account name, shared/ratelimit.py's, spent before any password is hashed), the sign-in
form's token bound to its cookie by a secret of the console, and the browser's word that the form
was posted from the console's own pages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.console.accounts import normalised_username
from services.console.settings import ConsoleSettings
from shared.ratelimit import Rate, RateLimiter
from shared.token_keys import signing_key

# What the form's key is derived for, so it is never the key of anything else.
FORM_KEY_PURPOSE = b"cpnet console: the sign-in form's token"
# What a browser's Sec-Fetch-Site says of a form posted from the console's own page (or typed in);
# "same-site" is another port or a sibling host, which may plant cookies but is not the console.
OWN_PAGES = frozenset({"same-origin", "none"})


@dataclass(frozen=True)
class SignInThrottle:
    """Sign-in attempts per client address and per account name (normalised as the lock-out
    normalises it, so case and spaces make no new bucket), in this process."""

    per_address: RateLimiter
    per_account: RateLimiter

    @classmethod
    def from_settings(
        cls, settings: ConsoleSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> SignInThrottle:
        return cls(
            RateLimiter(Rate(settings.console_sign_ins_per_address_per_minute), clock=clock),
            RateLimiter(Rate(settings.console_sign_ins_per_account_per_minute), clock=clock),
        )

    def wait(self, address: str | None, username: str | None = None) -> float:
        """0 when the attempt may go ahead (a token of its address and of its account name spent);
        else the seconds until it may. An unknown name has its bucket like any other."""
        if wait := self.per_address.take(address):
            return wait
        return self.per_account.take(normalised_username(username)) if username is not None else 0.0


@dataclass(frozen=True)
class SignInForms:
    """The sign-in form's CSRF token is the HMAC of its cookie's random value under a key of the
    console: a cookie planted by a sibling site, with a token of its choosing, does not pass."""

    key: bytes

    @classmethod
    def from_settings(cls, settings: ConsoleSettings) -> SignInForms:
        """Derived from the token-signing key, which the console holds alone (production demands
        one); without one (development) a key of this process's own."""
        if not settings.auth_signing_key:
            return cls(secrets.token_bytes(32))
        seed = signing_key(settings.auth_signing_key).private_bytes_raw()
        return cls(HKDF(hashes.SHA256(), length=32, salt=None, info=FORM_KEY_PURPOSE).derive(seed))

    def new(self) -> tuple[str, str]:
        """A fresh (cookie value, form token) pair."""
        cookie = secrets.token_urlsafe(32)
        return cookie, self.token_of(cookie)

    def token_of(self, cookie: str) -> str:
        digest = hmac.new(self.key, cookie.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def matches(self, cookie: str | None, token: str | None) -> bool:
        """The form's token is the one its cookie was given (compared in constant time)."""
        if not cookie or not token:
            return False
        return secrets.compare_digest(self.token_of(cookie).encode("ascii"), token.encode("utf-8"))


def posted_from_own_pages(headers: Mapping[str, str]) -> bool:
    """False when the browser says the form came from another site or a sibling of the console's
    (Fetch Metadata); a client that says nothing is judged by the form's token alone."""
    site = headers.get("sec-fetch-site")
    return site is None or site in OWN_PAGES
