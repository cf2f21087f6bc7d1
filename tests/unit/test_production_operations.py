"""Production's switch of each service's own documents and counts: `/metrics` with neither an operator's
token nor the scrape token is a 401 (another role's, a 403), `/docs` and `/openapi.json` need a valid token
— unless the operator opens them; development serves them as ever."""

from __future__ import annotations

import base64
import json
import secrets

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cpnet.registry import available_services, definition_of
from services.audit.settings import AuditSettings
from shared.auth import Role, issue_token
from shared.operations import is_scrape_token
from shared.service import build_app
from shared.settings import Settings
from shared.token_keys import jwks_of
from tests.unit.test_production_settings import strong_values

SCRAPE_TOKEN = secrets.token_urlsafe(32)
_KEY = Ed25519PrivateKey.generate()
_SEED = base64.b64encode(
    _KEY.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
).decode()


def production(**changes) -> Settings:
    """Production settings every service accepts (the audit service's kind: its signing key too)."""
    return AuditSettings(
        **{
            **strong_values(),
            "auth_signing_key": _SEED,
            "auth_jwks": json.dumps(jwks_of(_KEY)),
            "metrics_token": SCRAPE_TOKEN,
            **changes,
        }
    )


def bearer(settings: Settings, role: Role) -> dict[str, str]:
    token = issue_token(
        settings, subject=f"{role}-1", role=role, jurisdiction="" if role == Role.operator else "140402"
    )
    return {"Authorization": f"Bearer {token}"}


def client(service: str, settings: Settings) -> httpx.AsyncClient:
    app = build_app(definition_of(service), settings)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app, raise_app_exceptions=False), base_url=f"http://{service}"
    )


@pytest.mark.parametrize("service", available_services())
async def test_production_metrics_and_documents_need_a_token(service: str) -> None:
    settings = production()
    async with client(service, settings) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (
            await http.get("/metrics", headers={"Authorization": "Bearer " + SCRAPE_TOKEN[:-1] + "x"})
        ).status_code == 401, "a wrong scrape token is no token"
        assert (await http.get("/metrics", headers=bearer(settings, Role.supervisor))).status_code == 403
        for document in ("/openapi.json", "/docs", "/redoc"):
            assert (await http.get(document)).status_code in (401, 404), document
        opened = await http.get("/openapi.json", headers=bearer(settings, Role.caseworker))
        assert opened.status_code == 200 and opened.json()["info"]["title"] == f"cpnet {service}"
        assert (await http.get("/docs", headers=bearer(settings, Role.caseworker))).status_code == 200
        assert (await http.get("/healthz")).status_code == 200, "health stays open to the orchestrator"


async def test_the_operator_configures_them_open_and_development_serves_them() -> None:
    for settings in (production(api_docs_open=True, metrics_open=True), Settings()):
        async with client("intake", settings) as http:
            assert (await http.get("/openapi.json")).status_code == 200
            assert (await http.get("/docs")).status_code == 200
            # Past the guard: the handler itself needs the running service (its lifespan), not a token.
            assert (await http.get("/metrics")).status_code not in (401, 403)


def test_the_scrape_token_is_the_configured_one_or_nothing() -> None:
    assert is_scrape_token(production(), SCRAPE_TOKEN)
    assert not is_scrape_token(production(), SCRAPE_TOKEN + "x")
    assert not is_scrape_token(production(metrics_token=""), "")


async def test_the_scrape_token_and_an_operators_token_pass_the_guard() -> None:
    settings = production()
    async with client("casework", settings) as http:
        for headers in ({"Authorization": f"Bearer {SCRAPE_TOKEN}"}, bearer(settings, Role.operator)):
            assert (await http.get("/metrics", headers=headers)).status_code not in (401, 403)


def test_production_refuses_a_weak_scrape_token() -> None:
    from shared.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="CPNET_METRICS_TOKEN"):
        production(metrics_token="metrics")
