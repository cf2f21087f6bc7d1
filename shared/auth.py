"""Who is calling: bearer tokens — signed by one issuer with its Ed25519 key (EdDSA), verified
here with the public keys of the JWKS only (shared/token_keys.py) — and the FastAPI dependencies
every route takes its Principal from."""

from __future__ import annotations

import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from shared.contracts.vocabulary import Agency, OpaqueRef, Role
from shared.settings import Settings, get_settings
from shared.territory.code import PREFIX_PATTERN
from shared.token_keys import DEV_KID, key_set, public_jwk, signing_key

# The one algorithm a token may use: a token naming any other (HS256 with the old development
# secret, "none", RS256 with a public key passed as an HMAC secret…) is refused before any key is tried.
ALGORITHM = "EdDSA"
# `jur` too: a token that forgot its territory must not come to mean "everywhere".
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jur"]
# The roles whose work spans the whole network, the only ones a token may give the empty
# territory ("everywhere"): operators run it, auditors inspect any case, and the hotline
# vendor reports children from every county. Everyone else works at a node of the tree.
WHOLE_TERRITORY_ROLES = frozenset({Role.operator, Role.auditor, Role.hotline})
# Who may do what, by role: the one home of each set. The services' routes take them
# (`require_role(*CASE_SIDE)`), and casework's `actions` and the console's pages read the same sets,
# so a page never offers what a service refuses.
CASE_READERS = frozenset({Role.caseworker, Role.supervisor, Role.operator, Role.auditor})
CASE_SIDE = frozenset({Role.caseworker, Role.supervisor})  # who works a case: reviews, visits, records
SUPERVISORS = frozenset({Role.supervisor})  # who assigns, decides requests, sets a grade
REPORTERS = frozenset({Role.hotline, Role.reporter, Role.caseworker, Role.supervisor})
# Services run on clocks that may differ by a few seconds.
CLOCK_SKEW = timedelta(seconds=30)
# A node of the four-level network is a code prefix (shared.territory.code has the lengths).
TERRITORY_PREFIX_PATTERN = PREFIX_PATTERN
_TERRITORY_PREFIX = re.compile(PREFIX_PATTERN)


class AuthError(Exception):
    """A token that does not authenticate; the message is short and never quotes the token."""


def is_territory_prefix(value: str) -> bool:
    """ "" (everywhere) or a node's prefix: 2, 4, 6, 9 or 12 digits (province … village)."""
    return value == "" or _TERRITORY_PREFIX.fullmatch(value) is not None


class Principal(BaseModel):
    """The authenticated caller: pseudonymous subject, role, agency (an agency's officer), provider (a
    contracted provider's worker) and territory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The same shape every event uses for a user's id, so whatever a user does can be recorded.
    subject: OpaqueRef
    role: Role
    agency: Agency | None = None
    provider: uuid.UUID | None = None  # the organisation a provider_worker works for
    jurisdiction: str = ""

    @field_validator("jurisdiction")
    @classmethod
    def _territory_prefix(cls, value: str) -> str:
        if not is_territory_prefix(value):
            raise ValueError(
                "must be a territory prefix of 2, 4, 6, 9 or 12 digits (e.g. 14, 1404, 140402001), or empty"
            )
        return value

    @model_validator(mode="after")
    def _agency_matches_role(self) -> Principal:
        # Authorisation keys agency-scoped access on this field, so it must be unambiguous.
        if self.role is Role.agency_officer and self.agency is None:
            raise ValueError("an agency_officer needs an agency")
        if self.role is not Role.agency_officer and self.agency is not None:
            raise ValueError(f"role {self.role} does not carry an agency")
        if (self.role is Role.provider_worker) != (self.provider is not None):
            raise ValueError("a provider_worker needs a provider, and only a provider_worker has one")
        if not self.jurisdiction and self.role not in WHOLE_TERRITORY_ROLES:
            everywhere = ", ".join(sorted(WHOLE_TERRITORY_ROLES))
            raise ValueError(
                f"role {self.role} needs a jurisdiction (a territory prefix); "
                f"only {everywhere} may have the whole territory"
            )
        return self

    def can_see(self, jurisdiction: str) -> bool:
        """True when the territory code lies in this principal's subtree ("" sees everything)."""
        # A malformed code fails closed rather than matching by accident.
        return is_territory_prefix(jurisdiction) and jurisdiction.startswith(self.jurisdiction)


def issue_token(
    settings: Settings,
    *,
    subject: str,
    role: Role | str,
    agency: Agency | str | None = None,
    jurisdiction: str = "",
    provider: uuid.UUID | str | None = None,
    ttl: timedelta = timedelta(hours=8),
    audience: str | None = None,
) -> str:
    """A bearer token signed with the issuer's key (CPNET_AUTH_SIGNING_KEY), naming it by `kid`; a
    bad role, agency, jurisdiction or ttl raises a one-line ValueError. The jurisdiction may stay
    empty (everywhere) only for WHOLE_TERRITORY_ROLES. Only the issuer calls this. With `audience`
    (directory_audience), a statement about the person it names, never a bearer token."""
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    if ttl > max_token_ttl(settings):
        raise ValueError(
            f"ttl must be at most {settings.auth_max_token_ttl_minutes} minutes "
            "(CPNET_AUTH_MAX_TOKEN_TTL_MINUTES)"
        )
    principal = principal_of(
        subject=subject, role=role, agency=agency, jurisdiction=jurisdiction, provider=provider
    )
    now = datetime.now(UTC)
    claims = {
        "sub": principal.subject,
        "role": principal.role.value,
        "agency": principal.agency.value if principal.agency else None,
        "jur": principal.jurisdiction,
        **({"provider": str(principal.provider)} if principal.provider else {}),
        "iss": settings.auth_issuer,
        "aud": audience or settings.auth_audience,
        "iat": now,
        "exp": now + ttl,
    }
    if settings.environment == "production" and not settings.auth_signing_key:
        raise ValueError(
            "CPNET_AUTH_SIGNING_KEY is empty: production tokens are signed with the issuer's key"
        )
    key = signing_key(settings.auth_signing_key)
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": public_jwk(key.public_key())["kid"]})


def verify_token(settings: Settings, token: str, *, audience: str | None = None) -> Principal:
    """The Principal a valid token names, or AuthError saying briefly why not (`audience`: of a
    directory's statement, directory_audience)."""
    return _verify(settings, token, audience=audience)[0]


def directory_audience(settings: Settings) -> str:
    """The audience of the issuer's word about a person (that they are, now, an active user of this
    role and territory): the console's directory vouching for a caseworker a case is assigned to. Its
    own audience, so such a statement is never taken as that person's bearer token."""
    return f"{settings.auth_audience}/directory"


def _verify(settings: Settings, token: str, *, audience: str | None = None) -> tuple[Principal, int]:
    """The Principal and the expiry (epoch seconds) of a valid token."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise AuthError("token is malformed") from None
    if header.get("alg") != ALGORITHM:
        raise AuthError("token algorithm is not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthError("token names no key (kid)")
    # The development key is public: production trusts no token it signed, whatever the JWKS says.
    key = (
        None
        if kid == DEV_KID and settings.environment == "production"
        else key_set(settings.auth_jwks).key(kid)
    )
    if key is None:
        raise AuthError("token is signed by a key this service does not trust")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience or settings.auth_audience,
            issuer=settings.auth_issuer,
            leeway=CLOCK_SKEW,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token has expired") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"token lacks the {exc.claim!r} claim") from None
    except jwt.InvalidAudienceError:
        raise AuthError("token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise AuthError("token is from another issuer") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError("token algorithm is not allowed") from None
    except jwt.InvalidSignatureError:
        raise AuthError("token signature does not verify") from None
    except jwt.ImmatureSignatureError:
        raise AuthError("token is not valid yet") from None
    except jwt.DecodeError:
        raise AuthError("token is malformed") from None
    except jwt.InvalidTokenError:
        raise AuthError("token is invalid") from None
    # A token valid for years is a key that never changes; the issuer's word is not enough.
    # (PyJWT has checked that both convert to integers.)
    if int(claims["exp"]) - int(claims["iat"]) > max_token_ttl(settings).total_seconds():
        raise AuthError(
            f"token lifetime exceeds the maximum of {settings.auth_max_token_ttl_minutes} minutes"
        )
    try:
        principal = principal_of(
            subject=claims["sub"],
            role=claims.get("role"),
            agency=claims.get("agency"),
            jurisdiction=claims["jur"],
            provider=claims.get("provider"),
        )
    except ValueError as exc:
        raise AuthError(f"token claims are invalid: {exc}") from None
    return principal, int(claims["exp"])


class VerifiedTokens:
    """Tokens that verified, remembered until they expire: a caller sends the same token with
    every request, and verifying it (the signature, the claims, the Principal) is about 0.1 ms,
    a request's largest fixed cost. A token is remembered with everything it was verified
    against, so other settings verify it afresh; the least recently used are forgotten first."""

    def __init__(self, *, size: int = 4096, clock: Callable[[], float] = time.time) -> None:
        self._size = size
        self._clock = clock
        self._verified: OrderedDict[tuple, tuple[Principal, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._verified)

    def principal(self, settings: Settings, token: str) -> Principal:
        """As verify_token, answered from memory when the token verified before."""
        key = (
            token,
            settings.auth_jwks,
            settings.environment,
            settings.auth_issuer,
            settings.auth_audience,
            settings.auth_max_token_ttl_minutes,
        )
        known = self._verified.get(key)
        if known is not None:
            self._verified.move_to_end(key)
        else:
            known = self._verified[key] = _verify(settings, token)
            if len(self._verified) > self._size:
                self._verified.popitem(last=False)
        principal, expires = known
        # The expiry as PyJWT judges it (with the same leeway), at every use.
        if self._clock() >= expires + CLOCK_SKEW.total_seconds():
            self._verified.pop(key, None)
            raise AuthError("token has expired")
        return principal


# The one memory of this process's HTTP APIs.
VERIFIED_TOKENS = VerifiedTokens()


def max_token_ttl(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.auth_max_token_ttl_minutes)


def principal_of(**fields: Any) -> Principal:
    """A Principal from its fields, or one ValueError line naming each field that is wrong (a
    token's claims, a console user's role, agency and territory)."""
    try:
        return Principal(**fields)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            where = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise ValueError("; ".join(problems)) from None


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller named by `Authorization: Bearer <token>`, else 401."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorised("missing bearer token")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorised("authorization is not 'Bearer <token>'")
    settings = getattr(request.app.state, "settings", None) or get_settings()
    try:
        principal = VERIFIED_TOKENS.principal(settings, token)
    except AuthError as exc:
        raise _unauthorised(str(exc)) from None
    # Kept on the request so logging and auditing can name the caller without re-verifying.
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency giving the Principal when its role is one of `roles`, else 403."""
    if not roles:
        raise ValueError("require_role needs at least one role")
    allowed = frozenset(roles)
    needed = ", ".join(sorted(allowed))

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"role {principal.role} may not use this endpoint (needs {needed})",
            )
        return principal

    return dependency
