"""Tests of bearer tokens (EdDSA: the issuer's private key signs, the services' JWKS verifies),
the FastAPI identity dependencies, the territory rule and `cpnet token issue|jwks`."""

from __future__ import annotations

import base64
import json
import re
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from jwt.warnings import InsecureKeyLengthWarning
from typer.testing import CliRunner

from cpnet.cli import app as cli
from shared.auth import (
    WHOLE_TERRITORY_ROLES,
    AuthError,
    CurrentPrincipal,
    Principal,
    Role,
    issue_token,
    require_role,
    verify_token,
)
from shared.contracts.vocabulary import Agency
from shared.settings import Settings, get_settings
from shared.token_keys import jwks_of, public_jwk

ISSUER_KEY = Ed25519PrivateKey.generate()
ISSUER_SEED = base64.b64encode(ISSUER_KEY.private_bytes_raw()).decode()
KID = public_jwk(ISSUER_KEY.public_key())["kid"]
JWKS = json.dumps(jwks_of(ISSUER_KEY))
# The issuer's settings (it alone has the signing key) and a service's (the public keys only).
SETTINGS = Settings(
    auth_signing_key=ISSUER_SEED, auth_jwks=JWKS, auth_issuer="cpnet-test", auth_audience="cpnet-api"
)
SERVICE = Settings(auth_jwks=JWKS, auth_issuer="cpnet-test", auth_audience="cpnet-api")
OTHER_KEY = Ed25519PrivateKey.generate()
# The HS256 secret development tokens were signed with before tokens became asymmetric.
OLD_HS256_SECRET = "cpnet-insecure-development-auth-secret"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": "u-1",
        "role": "caseworker",
        "agency": None,
        "jur": "1404",
        "iss": "cpnet-test",
        "aud": "cpnet-api",
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not ...}


def _forge(
    claims: dict[str, Any], key: Any = ISSUER_KEY, algorithm: str = "EdDSA", kid: str | None = KID
) -> str:
    with warnings.catch_warnings():
        # The HMAC forgeries use short secrets on purpose.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def test_issue_verify_round_trip() -> None:
    token = issue_token(
        SETTINGS, subject="u-42", role=Role.agency_officer, agency="police", jurisdiction="140402"
    )
    principal = verify_token(SERVICE, token)
    assert principal == Principal(
        subject="u-42", role=Role.agency_officer, agency=Agency.police, jurisdiction="140402"
    )
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": KID, "typ": "JWT"}
    claims = jwt.decode(token, ISSUER_KEY.public_key(), algorithms=["EdDSA"], audience="cpnet-api")
    assert {"sub", "role", "agency", "jur", "iss", "aud", "iat", "exp"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == 8 * 3600


def test_hand_made_token_with_the_right_claims_verifies() -> None:
    assert verify_token(SETTINGS, _forge(_claims())).role is Role.caseworker


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (
            _forge(
                _claims(
                    iat=datetime.now(UTC) - timedelta(hours=3), exp=datetime.now(UTC) - timedelta(hours=1)
                )
            ),
            "expired",
        ),
        (_forge(_claims(aud="someone-else")), "audience"),
        (_forge(_claims(iss="someone-else")), "issuer"),
        # Signed by a key that is not the issuer's, under the issuer's kid or its own.
        (_forge(_claims(), key=Ed25519PrivateKey.generate()), "signature"),
        (_forge(_claims(), key=OTHER_KEY, kid=public_jwk(OTHER_KEY.public_key())["kid"]), "does not trust"),
        (_forge(_claims(), kid=None), "names no key"),
        (_forge(_claims(), key=None, algorithm="none"), "algorithm"),
        # The old development scheme, and the public key passed off as an HMAC secret.
        (_forge(_claims(), key=OLD_HS256_SECRET, algorithm="HS256"), "algorithm"),
        (_forge(_claims(), key=public_jwk(ISSUER_KEY.public_key())["x"], algorithm="HS512"), "algorithm"),
        (_forge(_claims(exp=...)), "'exp'"),
        (_forge(_claims(iat=...)), "'iat'"),
        (_forge(_claims(sub=...)), "'sub'"),
        (_forge(_claims(aud=...)), "'aud'"),
        (_forge(_claims(iss=...)), "'iss'"),
        (_forge(_claims(role="root")), "role"),
        (_forge(_claims(jur="1")), "jur"),
        (_forge(_claims(jur=...)), "token lacks the 'jur' claim"),
        (_forge(_claims(jur=None)), "token lacks the 'jur' claim"),
        (_forge(_claims(jur="")), "caseworker needs a jurisdiction"),
        (_forge(_claims(role="reporter", jur="")), "reporter needs a jurisdiction"),
        (
            _forge(_claims(role="agency_officer", agency="police", jur="")),
            "agency_officer needs a jurisdiction",
        ),
        (_forge(_claims(exp=datetime.now(UTC) + timedelta(days=365 * 300))), "lifetime exceeds the maximum"),
        (
            _forge(_claims(exp=datetime.now(UTC) + timedelta(hours=12, minutes=1))),
            "lifetime exceeds the maximum",
        ),
        # Backdating iat does not lengthen a token: exp - iat is what is bounded.
        (
            _forge(
                _claims(
                    iat=datetime.now(UTC) - timedelta(days=30), exp=datetime.now(UTC) + timedelta(hours=1)
                )
            ),
            "lifetime exceeds the maximum",
        ),
        # Made when the test runs, not when it is collected: minutes later it would no longer be ahead.
        (
            lambda: _forge(
                _claims(
                    iat=datetime.now(UTC) + timedelta(minutes=5), exp=datetime.now(UTC) + timedelta(hours=1)
                )
            ),
            "not valid yet",
        ),
        ("not-a-token", "malformed"),
    ],
    ids=[
        "expired",
        "audience",
        "issuer",
        "another-key-same-kid",
        "another-key",
        "no-kid",
        "alg-none",
        "old-hs256-dev-secret",
        "public-key-as-hmac-secret",
        "no-exp",
        "no-iat",
        "no-sub",
        "no-aud",
        "no-iss",
        "unknown-role",
        "bad-jurisdiction",
        "no-jur",
        "null-jur",
        "caseworker-everywhere",
        "reporter-everywhere",
        "officer-everywhere",
        "exp-in-300-years",
        "a-minute-too-long",
        "backdated-iat",
        "iat-in-the-future",
        "garbage",
    ],
)
def test_bad_tokens_are_rejected(token: str | Callable[[], str], reason: str) -> None:
    token = token() if callable(token) else token
    with pytest.raises(AuthError, match=reason) as caught:
        verify_token(SERVICE, token)
    assert token not in str(caught.value)


def test_principal_validation() -> None:
    for bad in ({"jurisdiction": "1"}, {"jurisdiction": "14x4"}, {"jurisdiction": "14" * 7}, {"subject": ""}):
        with pytest.raises(ValueError):
            issue_token(SETTINGS, **{"subject": "u", "role": "caseworker", **bad})
    with pytest.raises(ValueError, match="agency"):
        issue_token(SETTINGS, subject="u", role="agency_officer")
    with pytest.raises(ValueError, match="agency"):
        issue_token(SETTINGS, subject="u", role="caseworker", agency="police")
    with pytest.raises(ValueError, match="ttl"):
        issue_token(SETTINGS, subject="u", role="caseworker", ttl=timedelta(0))


def test_can_see_is_the_territory_subtree() -> None:
    county = Principal(subject="u", role=Role.caseworker, jurisdiction="140402")
    province = Principal(subject="u", role=Role.supervisor, jurisdiction="14")
    everywhere = Principal(subject="u", role=Role.auditor)
    assert county.can_see("140402001001")
    assert not county.can_see("140403001001")
    assert not county.can_see("1404")  # the parent city is not in the county's subtree
    assert province.can_see("140402001001") and not province.can_see("410402001001")
    assert everywhere.can_see("410402001001") and everywhere.can_see("")
    assert not everywhere.can_see("14x402001001")  # malformed codes fail closed


def test_the_whole_territory_is_only_for_roles_that_need_the_whole_city() -> None:
    assert WHOLE_TERRITORY_ROLES == {Role.operator, Role.auditor, Role.hotline}
    for role in WHOLE_TERRITORY_ROLES:
        token = _forge(_claims(role=role.value, jur=""))
        assert verify_token(SETTINGS, token).jurisdiction == "", "said explicitly, the empty territory holds"
        assert verify_token(SETTINGS, issue_token(SETTINGS, subject="u", role=role)).can_see("410402001001")
    for role in set(Role) - WHOLE_TERRITORY_ROLES:
        agency = "police" if role is Role.agency_officer else None
        provider = uuid.uuid4() if role is Role.provider_worker else None
        with pytest.raises(ValueError, match="needs a jurisdiction"):
            issue_token(SETTINGS, subject="u", role=role, agency=agency, provider=provider)
        with pytest.raises(ValueError, match="needs a jurisdiction"):
            Principal(subject="u", role=role, agency=agency, provider=provider)
        verified = verify_token(
            SETTINGS,
            issue_token(
                SETTINGS, subject="u", role=role, agency=agency, provider=provider, jurisdiction="140402"
            ),
        )
        assert (verified.jurisdiction, verified.provider) == ("140402", provider)


def test_a_provider_worker_carries_the_provider_they_work_for_and_no_one_else_does() -> None:
    provider = uuid.uuid4()
    with pytest.raises(ValueError, match="a provider_worker needs a provider"):
        issue_token(SETTINGS, subject="u", role=Role.provider_worker, jurisdiction="140402")
    with pytest.raises(ValueError, match="only a provider_worker has one"):
        issue_token(SETTINGS, subject="u", role=Role.caseworker, jurisdiction="140402", provider=provider)
    forged = _forge(_claims(role="caseworker", jur="140402", provider=str(provider)))
    with pytest.raises(AuthError, match="only a provider_worker has one"):
        verify_token(SETTINGS, forged)


def test_token_lifetime_is_bounded_at_issue_and_at_verification() -> None:
    assert SETTINGS.auth_max_token_ttl_minutes == 12 * 60, "the documented default"
    longest = issue_token(SETTINGS, subject="u", role=Role.auditor, ttl=timedelta(hours=12))
    assert verify_token(SETTINGS, longest).role is Role.auditor
    with pytest.raises(ValueError, match="ttl must be at most 720 minutes"):
        issue_token(SETTINGS, subject="u", role=Role.auditor, ttl=timedelta(hours=12, seconds=1))
    # An iat a few seconds ahead (another server's clock) is within the skew allowed.
    ahead = _forge(
        _claims(iat=datetime.now(UTC) + timedelta(seconds=10), exp=datetime.now(UTC) + timedelta(hours=1))
    )
    assert verify_token(SETTINGS, ahead).role is Role.caseworker
    # A stricter deployment shortens every token, including those already issued.
    strict = Settings(
        auth_jwks=JWKS, auth_issuer="cpnet-test", auth_audience="cpnet-api", auth_max_token_ttl_minutes=30
    )
    with pytest.raises(AuthError, match="maximum of 30 minutes"):
        verify_token(strict, longest)


def test_principal_is_frozen() -> None:
    principal = Principal(subject="u", role=Role.caseworker, jurisdiction="1404")
    with pytest.raises(ValueError):
        principal.role = Role.supervisor  # type: ignore[misc]


@pytest.fixture()
def client() -> TestClient:
    api = FastAPI()
    api.state.settings = SERVICE

    @api.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"subject": principal.subject, "role": principal.role}

    @api.get("/supervise")
    async def supervise(
        principal: Annotated[Principal, Depends(require_role(Role.supervisor))],
    ) -> dict[str, str]:
        return {"subject": principal.subject}

    return TestClient(api)


def _bearer(role: Role, subject: str = "u-7") -> dict[str, str]:
    jurisdiction = "" if role in WHOLE_TERRITORY_ROLES else "1404"
    return {
        "Authorization": "Bearer "
        + issue_token(SETTINGS, subject=subject, role=role, jurisdiction=jurisdiction)
    }


def test_missing_header_is_401_with_challenge(client: TestClient) -> None:
    response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-token",
        "Basic dTpw",
        "Bearer ",
        f"Bearer {_forge(_claims(), key=None, algorithm='none')}",
    ],
)
def test_bad_credentials_are_401(client: TestClient, header: str) -> None:
    for path in ("/me", "/supervise"):
        response = client.get(path, headers={"Authorization": header})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        sent = header.partition(" ")[2].strip()
        assert not sent or sent not in response.json()["detail"]


def test_a_token_without_its_territory_is_401(client: TestClient) -> None:
    response = client.get("/me", headers={"Authorization": f"Bearer {_forge(_claims(jur=...))}"})
    assert (response.status_code, response.json()["detail"]) == (401, "token lacks the 'jur' claim")


def test_token_from_other_settings_is_401(client: TestClient) -> None:
    other = Settings(
        auth_signing_key=base64.b64encode(OTHER_KEY.private_bytes_raw()).decode(),
        auth_issuer="cpnet-test",
        auth_audience="cpnet-api",
    )
    token = issue_token(other, subject="u", role=Role.supervisor, jurisdiction="1404")
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    development = issue_token(
        Settings(auth_issuer="cpnet-test", auth_audience="cpnet-api"),
        subject="u",
        role=Role.supervisor,
        jurisdiction="1404",
    )
    assert client.get("/me", headers={"Authorization": f"Bearer {development}"}).status_code == 401


def test_any_role_reaches_the_authenticated_route(client: TestClient) -> None:
    response = client.get("/me", headers=_bearer(Role.hotline))
    assert response.status_code == 200
    assert response.json() == {"subject": "u-7", "role": "hotline"}


def test_wrong_role_is_403(client: TestClient) -> None:
    response = client.get("/supervise", headers=_bearer(Role.caseworker))
    assert response.status_code == 403
    assert "caseworker" in response.json()["detail"]


def test_right_role_is_200(client: TestClient) -> None:
    response = client.get("/supervise", headers=_bearer(Role.supervisor, subject="sup-1"))
    assert response.status_code == 200
    assert response.json() == {"subject": "sup-1"}


def test_settings_fall_back_to_get_settings(cli_settings: Settings) -> None:
    api = FastAPI()

    @api.get("/me")
    async def me(principal: CurrentPrincipal) -> str:
        return principal.subject

    token = issue_token(cli_settings, subject="u-9", role=Role.operator)
    response = TestClient(api).get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json() == "u-9"


@pytest.fixture()
def cli_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("CPNET_AUTH_SIGNING_KEY", ISSUER_SEED)
    monkeypatch.setenv("CPNET_AUTH_JWKS", JWKS)
    monkeypatch.setenv("CPNET_ENVIRONMENT", "development")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_cli_issues_a_verifiable_token(cli_settings: Settings) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "token",
            "issue",
            "--role",
            "agency_officer",
            "--agency",
            "police",
            "--jurisdiction",
            "1404",
            "--subject",
            "officer-1",
            "--ttl-hours",
            "0.5",
        ],
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    principal = verify_token(cli_settings, token)
    assert principal == Principal(
        subject="officer-1", role=Role.agency_officer, agency=Agency.police, jurisdiction="1404"
    )


def test_cli_defaults(cli_settings: Settings) -> None:
    result = CliRunner().invoke(cli, ["token", "issue", "--role", "operator"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    principal = verify_token(cli_settings, token)
    assert (principal.role, principal.subject, principal.jurisdiction) == (Role.operator, "dev-operator", "")
    claims = jwt.decode(
        token, ISSUER_KEY.public_key(), algorithms=["EdDSA"], audience=cli_settings.auth_audience
    )
    assert claims["jur"] == "" and claims["exp"] - claims["iat"] == 8 * 3600


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--role", "root"], "unknown role"),
        (["--role", "caseworker", "--jurisdiction", "140"], "jurisdiction"),
        (["--role", "agency_officer"], "agency"),
        (["--role", "agency_officer", "--agency", "army"], "agency"),
        (["--role", "caseworker", "--jurisdiction", "1404", "--ttl-hours", "0"], "ttl"),
        (["--role", "operator", "--ttl-hours", "12.5"], "--ttl-hours must be more than 0 and at most 12 "),
        (["--role", "operator", "--ttl-hours", "2629800"], "at most 12 "),
        (["--role", "caseworker"], "caseworker needs a jurisdiction"),
        (["--role", "reporter"], "reporter needs a jurisdiction"),
    ],
)
def test_cli_rejects_bad_input_in_one_line(cli_settings: Settings, args: list[str], complaint: str) -> None:
    result = CliRunner().invoke(cli, ["token", "issue", *args])
    assert result.exit_code != 0
    assert result.stdout == ""
    assert complaint in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_township_and_village_officers_are_expressible_and_see_only_their_node() -> None:
    # Township and village segments have three digits: 9 and 12-digit prefixes are nodes.
    township = Principal(subject="u", role=Role.caseworker, jurisdiction="140402001")
    assert township.can_see("140402001007") and not township.can_see("140402002001")
    assert Principal(subject="u", role=Role.caseworker, jurisdiction="140402001007").can_see("140402001007")
    for not_a_node in ("14040200", "1404020010"):
        with pytest.raises(ValueError):
            Principal(subject="u", role=Role.caseworker, jurisdiction=not_a_node)


def test_no_service_can_mint_a_token() -> None:
    """Services verify; only the issuer (`cpnet token issue`, the console) signs: no service's code
    but the console's reads the signing key or calls the signer."""
    from pathlib import Path

    services = Path(__file__).resolve().parents[2] / "services"
    signer = re.compile(r"\b(issue_token|auth_signing_key)\b")
    minting = [
        str(path.relative_to(services))
        for path in services.rglob("*.py")
        if path.relative_to(services).parts[0] != "console"
        and signer.search(path.read_text(encoding="utf-8"))
    ]
    assert (services / "intake").is_dir() and (services / "casework").is_dir()
    assert minting == []
