"""Each service's OpenAPI document declares the bearer scheme and every answer its routes give."""

from __future__ import annotations

import json
import re

import pytest

from cpnet.registry import available_services, definition_of
from shared.service import build_app
from shared.settings import Settings

OPERATIONS = {"/healthz", "/readyz", "/metrics"}
EVERY_ROUTE_MAY_ANSWER = {"401", "403", "422", "429"}


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


@pytest.mark.parametrize("service", available_services())
def test_every_authenticated_route_declares_the_bearer_scheme_and_its_refusals(service: str) -> None:
    document = build_app(definition_of(service), Settings()).openapi()
    schemes = document["components"]["securitySchemes"]
    assert [name for name, s in schemes.items() if s == {**s, "type": "http", "scheme": "bearer"}] == [
        "bearer"
    ]
    routes = [(path, method, op) for path, method, op in operations(document) if path not in OPERATIONS]
    assert routes, "the service has an API"
    for path, method, operation in routes:
        where = f"{service}: {method.upper()} {path}"
        assert operation.get("security") == [{"bearer": []}], where
        answers = set(operation["responses"])
        assert EVERY_ROUTE_MAY_ANSWER <= answers, f"{where} lacks {EVERY_ROUTE_MAY_ANSWER - answers}"
        if "{" in path:
            assert "404" in answers, f"{where} has a path id but no 404"
        if "requestBody" in operation:
            assert "413" in answers, f"{where} takes a body but declares no 413"
        assert "Retry-After" in operation["responses"]["429"]["headers"], where


def test_a_reporters_receipt_and_a_caseworkers_answer_are_both_declared() -> None:
    document = build_app(definition_of("intake"), Settings()).openapi()
    accepted = document["paths"]["/v1/reports"]["post"]["responses"]["202"]["content"]["application/json"]
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in accepted["schema"]["anyOf"]} == {
        "ReportReceipt",
        "ReportRecorded",
    }
    receipt = document["components"]["schemas"]["ReportReceipt"]
    assert set(receipt["properties"]) == {"report_id", "status"}, (
        "a receipt says nothing of the child or case"
    )
    assert receipt.get("additionalProperties") is False


async def test_a_method_a_path_does_not_take_is_a_405_allowing_every_method_it_does() -> None:
    import httpx

    app = build_app(definition_of("intake"), Settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://intake") as http:
        for path, allowed in (
            ("/v1/reports", "GET, POST"),
            ("/v1/cases/summaries", "POST"),
            ("/v1/children/00000000-0000-4000-8000-000000000000/archive", "GET, PUT"),
        ):
            answer = await http.request("OPTIONS", path)
            assert (answer.status_code, answer.headers["allow"]) == (405, allowed), path


def test_the_child_search_takes_a_day_as_written_never_a_number() -> None:
    import pydantic

    from services.intake.api import ChildSearch

    search = {"purpose": "investigation", "name": "王小红", "jurisdiction": "140402001001"}
    assert str(ChildSearch.model_validate({**search, "birth_date": "2016-05-01"}).birth_date) == "2016-05-01"
    with pytest.raises(pydantic.ValidationError, match="YYYY-MM-DD"):
        ChildSearch.model_validate({**search, "birth_date": 0})


def test_an_actions_reasons_are_in_its_schema() -> None:
    """What a case's action takes, by its kind or decision, is in the schema a client reads: not only in
    casework's rules, which would answer 422 to a request the schema allowed."""
    schemas = build_app(definition_of("casework"), Settings()).openapi()["components"]["schemas"]
    kinds = {alt["properties"]["kind"]["const"]: alt for alt in schemas["ApprovalRequest"]["oneOf"]}
    assert kinds["close"]["properties"]["reason"]["enum"] == sorted(
        ["risk_resolved", "turned_18", "moved_away", "deceased", "family_reunified", "duplicate"]
    )
    assert "to_jurisdiction" in kinds["transfer"]["required"]
    decisions = {alt["properties"]["decision"]["const"]: alt for alt in schemas["Review"]["oneOf"]}
    assert decisions["screened_out"]["required"] == ["decision", "reason"]
    approvals = schemas["ApprovalDecision"]["oneOf"]
    assert {alt["properties"]["approve"]["const"] for alt in approvals} == {True, False}


@pytest.mark.parametrize("service", available_services())
def test_every_schema_a_document_refers_to_is_in_it(service: str) -> None:
    """A reference to a schema the document does not define leaves a client (and schemathesis) blind
    to that part of a request: the hotline contract's body once named Channel, Child… and defined none."""
    document = build_app(definition_of(service), Settings()).openapi()
    referred = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)))
    assert referred <= set(document.get("components", {}).get("schemas", {})), referred
    assert '"#/$defs/' not in json.dumps(document["paths"])
