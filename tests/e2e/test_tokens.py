"""Bearer tokens are asymmetric: every service, running as its own process, accepts a token the
issuer signed and refuses one signed with the old HS256 development secret, or by any other key —
under its own `kid` or passing itself off under the issuer's. No service holds the signing key:
they verify with the public JWKS only (the compose tests show no container is given the key)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import Role
from shared.settings import INSECURE_DEV_AUTH_SECRET, Settings
from shared.token_keys import public_jwk, signing_key
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import token

# One route of each service a caseworker of the county may call (a case nobody has is a 404).
CASE = uuid.uuid4()
ROUTES = {
    "intake": f"/v1/cases/{CASE}",
    "assessment": f"/v1/cases/{CASE}/assessment",
    "referral": "/v1/referrals",
    "followup": "/v1/visits",
    "audit": f"/v1/cases/{CASE}/timeline",
    "casework": "/v1/cases",
}


def _claims() -> dict:
    settings, now = Settings(), datetime.now(UTC)
    return {
        "sub": "cw-forger",
        "role": "caseworker",
        "agency": None,
        "jur": "140402",
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "iat": now,
        "exp": now + timedelta(minutes=10),
    }


def _bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def forgeries() -> dict[str, str]:
    stranger = Ed25519PrivateKey.generate()
    issuer_kid = public_jwk(signing_key(Settings().auth_signing_key).public_key())["kid"]
    return {
        "the old HS256 development secret": jwt.encode(
            _claims(), INSECURE_DEV_AUTH_SECRET, algorithm="HS256"
        ),
        "another key, its own kid": jwt.encode(
            _claims(), stranger, algorithm="EdDSA", headers={"kid": public_jwk(stranger.public_key())["kid"]}
        ),
        "another key, the issuer's kid": jwt.encode(
            _claims(), stranger, algorithm="EdDSA", headers={"kid": issuer_kid}
        ),
        "no signature": jwt.encode(_claims(), None, algorithm="none"),
    }


async def test_every_service_accepts_the_issuers_tokens_and_refuses_every_other_signature(
    services: RunningServices,
) -> None:
    issued = token(Role.caseworker, "cw-real", jurisdiction="140402")
    forged = forgeries()
    for service, route in ROUTES.items():
        async with httpx.AsyncClient(base_url=services.urls[service]) as http:
            accepted = await http.get(route, headers=issued)
            assert accepted.status_code in (200, 404), (service, accepted.status_code, accepted.text)
            for what, value in forged.items():
                refused = await http.get(route, headers=_bearer(value))
                assert refused.status_code == 401, (service, what, refused.status_code)
                assert value not in refused.text
