"""Signing in through an external OpenID Connect provider instead of passwords, when the operator
configures one (CPNET_CONSOLE_OIDC_ISSUER, _CLIENT_ID, _CLIENT_SECRET; deploy/README.md).

The provider says who the person is — its issuer and its `sub` for them, the only claims that do
not change when a name is edited — and the console matches that pair exactly to the account an
administrator linked it to (`cpnet users link-oidc`); a username the token carries matches nobody.
The console still decides what they may do: role, agency and territory are the console's own. The
authorization code flow with PKCE (S256, authlib's), a `state` bound to the browser by an HTTP-only
cookie and a `nonce` in the ID token; the ID token is verified against the provider's published
keys (issuer, audience, expiry, nonce). Sign-ins begun and not finished are kept in this process,
at most MAX_PENDING of them (the oldest forgotten first) and each for PENDING_FOR_S.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

# A sign-in not finished within this long starts again.
PENDING_FOR_S = 600
# Sign-ins begun and not finished, at most: a flood of starts costs a bounded memory (each entry
# holds a `next` of at most pages.MAX_LOCAL_PATH characters), and pushes out only the oldest.
MAX_PENDING = 1000
ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "EdDSA", "PS256"]


class SignInFailed(Exception):
    """The provider's answer does not sign anyone in; the message says why in a few words."""


@dataclass(frozen=True)
class Identity:
    """Whom the provider vouched for: its issuer and its subject for the person, and where the
    person was going."""

    issuer: str
    subject: str
    next_page: str


@dataclass
class Pending:
    nonce: str
    verifier: str
    next_page: str
    started: float


@dataclass
class Provider:
    """One configured provider, its discovery document read once."""

    issuer: str
    client_id: str
    client_secret: str
    _metadata: dict[str, Any] | None = None
    _pending: dict[str, Pending] = field(default_factory=dict)

    async def metadata(self, http: httpx.AsyncClient) -> dict[str, Any]:
        if self._metadata is None:
            answer = await http.get(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            answer.raise_for_status()
            metadata = answer.json()
            if str(metadata.get("issuer", "")).rstrip("/") != self.issuer.rstrip("/"):
                raise SignInFailed("the provider's discovery document names another issuer")
            self._metadata = metadata
        return self._metadata

    async def start(self, http: httpx.AsyncClient, *, redirect_uri: str, next_page: str) -> tuple[str, str]:
        """Where to send the browser, and the `state` to bind to it (a cookie)."""
        now = time.monotonic()
        for state in [s for s, p in self._pending.items() if now - p.started > PENDING_FOR_S]:
            del self._pending[state]
        while len(self._pending) >= MAX_PENDING:  # oldest first: the dict keeps the order they began
            del self._pending[next(iter(self._pending))]
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(48)
        self._pending[state] = Pending(nonce, verifier, next_page, now)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid profile",
                "state": state,
                "nonce": nonce,
                "code_challenge": create_s256_code_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{(await self.metadata(http))['authorization_endpoint']}?{query}", state

    async def finish(
        self, http: httpx.AsyncClient, *, state: str, bound_state: str | None, code: str, redirect_uri: str
    ) -> Identity:
        """Whom the provider vouches for (its issuer and subject), and where the person was going."""
        if not bound_state or not secrets.compare_digest(state, bound_state):
            raise SignInFailed("the answer is not for this browser's sign-in")
        pending = self._pending.pop(state, None)
        if pending is None or time.monotonic() - pending.started > PENDING_FOR_S:
            raise SignInFailed("the sign-in took too long or was answered twice")
        metadata = await self.metadata(http)
        answer = await http.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": pending.verifier,
            },
            auth=(self.client_id, self.client_secret),
        )
        if answer.status_code != 200 or "id_token" not in answer.json():
            raise SignInFailed("the provider did not exchange the code")
        claims = await self._verified(http, metadata, answer.json()["id_token"])
        if not secrets.compare_digest(str(claims.get("nonce", "")), pending.nonce):
            raise SignInFailed("the ID token is not for this sign-in")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise SignInFailed("the ID token's subject is not one (a string of 1 to 255 characters)")
        return Identity(str(claims["iss"]), subject, pending.next_page)

    @property
    def pending(self) -> int:
        """How many sign-ins are begun and not finished."""
        return len(self._pending)

    async def _verified(
        self, http: httpx.AsyncClient, metadata: dict[str, Any], id_token: str
    ) -> dict[str, Any]:
        keys = (await http.get(metadata["jwks_uri"])).json()
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
            jwk = next(k for k in jwt.PyJWKSet.from_dict(keys).keys if kid is None or k.key_id == kid)
            return jwt.decode(
                id_token,
                jwk.key,
                algorithms=ID_TOKEN_ALGORITHMS,
                audience=self.client_id,
                issuer=metadata["issuer"],
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, StopIteration) as exc:
            raise SignInFailed(f"the ID token does not verify ({type(exc).__name__})") from None
