"""Each service's OpenAPI document declares the bearer scheme and every answer its routes give."""

from __future__ import annotations

import pytest

from shared.service import available_services, build_app, definition_of
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
    assert [name for name, s in schemes.items() if s == {**s, "type": "http", "scheme": "bearer"}] == ["bearer"]
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
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in accepted["schema"]["anyOf"]} == {"ReportReceipt",
                                                                                       "ReportRecorded"}
    receipt = document["components"]["schemas"]["ReportReceipt"]
    assert set(receipt["properties"]) == {"report_id", "status"}, "a receipt says nothing of the child or case"
    assert receipt.get("additionalProperties") is False
