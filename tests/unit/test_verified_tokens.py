"""Tests of the memory of verified tokens: it answers as verify_token would, at every use —
an expired token is refused though it verified before, and other settings verify afresh."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import CLOCK_SKEW, AuthError, Role, VerifiedTokens, issue_token
from shared.settings import Settings
from shared.token_keys import jwks_of

SETTINGS = Settings(auth_issuer="cpnet-test", auth_audience="cpnet-api")  # the development key pair


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_remembered_token_is_refused_once_it_has_expired() -> None:
    clock = Clock()
    tokens = VerifiedTokens(clock=clock)
    token = issue_token(
        SETTINGS, subject="u-1", role=Role.caseworker, jurisdiction="1404", ttl=timedelta(minutes=5)
    )
    assert tokens.principal(SETTINGS, token).subject == "u-1"
    clock.now += 5 * 60 + CLOCK_SKEW.total_seconds() - 1
    assert tokens.principal(SETTINGS, token).subject == "u-1", "still within the clock skew allowed"
    clock.now += 2
    with pytest.raises(AuthError, match="expired"):
        tokens.principal(SETTINGS, token)
    with pytest.raises(AuthError, match="expired"):
        tokens.principal(SETTINGS, token)


def test_a_token_remembered_under_one_key_set_is_verified_afresh_under_another() -> None:
    tokens = VerifiedTokens()
    token = issue_token(SETTINGS, subject="u-1", role=Role.caseworker, jurisdiction="1404")
    tokens.principal(SETTINGS, token)
    other = SETTINGS.model_copy(update={"auth_jwks": json.dumps(jwks_of(Ed25519PrivateKey.generate()))})
    with pytest.raises(AuthError, match="does not trust"):
        tokens.principal(other, token)
    with pytest.raises(AuthError, match="audience"):
        tokens.principal(SETTINGS.model_copy(update={"auth_audience": "elsewhere"}), token)


def test_a_token_that_does_not_verify_is_never_remembered() -> None:
    tokens = VerifiedTokens()
    token = issue_token(SETTINGS, subject="u-1", role=Role.caseworker, jurisdiction="1404")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(AuthError):
            tokens.principal(SETTINGS, forged)


def test_memory_is_bounded_and_a_forgotten_token_still_verifies() -> None:
    tokens = VerifiedTokens(size=2)
    issued = [
        issue_token(SETTINGS, subject=f"u-{n}", role=Role.caseworker, jurisdiction="1404") for n in range(5)
    ]
    for token in issued:
        tokens.principal(SETTINGS, token)
    assert len(tokens) == 2
    assert tokens.principal(SETTINGS, issued[0]).subject == "u-0"
