"""Each service's OpenAPI document against what the service answers: schemathesis, with a supervisor's
token and every check it has (`--checks all`), bounded (20 examples an operation, a time budget a
service), must find nothing — no 5xx, no answer its document does not list, no schema-valid request
refused. A 422 the schema cannot foresee is allowed only where a rule no JSON Schema can say decides it
(BEYOND_THE_SCHEMA), and only if the operation's document says so in its 422."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.auth import Role
from tests.e2e.conftest import serving
from tests.e2e.reports import token

SERVICES = ("casework", "intake", "assessment", "followup", "referral", "audit")
# A service's share of the run on two shared cores: every operation is tested within it (the test checks),
# and the fuzzing fills the rest (2,300-3,500 cases a service at 30 s).
BUDGET_S = 30
# Operations whose schema-valid requests a rule answers 422 that no JSON Schema can say, each with the
# words its OpenAPI 422 description must hold.
BEYOND_THE_SCHEMA = {
    # a cursor is valid only as the list gave it
    ("GET", "/v1/cases"): "`after` is not a cursor this list gave",
    # who is an active caseworker of the case's territory is the directory's word, and a named owner's
    # replacement needs a reason: the case's state
    ("POST", "/v1/cases/{case_id}/assignment"): "`caseworker` is not, on the directory's word",
    # the territory registry's nodes are data (every village of the province), not an enum
    ("POST", "/v1/cases/{case_id}/approvals"): "`to_jurisdiction` is not a node of the territory registry",
    # a phone's digits are counted once +86, 0086 and the trunk 0 are left out
    ("POST", "/v1/children/search"): "`reporter_phone` is not a phone number",
    # what names a child (a national ID, or a name with a birth date or an age), and a birth date not yet
    # come: today's date
    ("POST", "/v1/children/{provisional_ref}/identification"): "does not name the child",
    # a visit is never dated in the future: today's date is no schema's
    ("POST", "/v1/cases/{case_id}/home-visits"): "`visited_at` is in the future",
    ("POST", "/v1/cases/{case_id}/visits"): "`visited_at` is in the future",
}
POSITIVE_STATUSES = '["2xx", "3xx", "401", "403", "404", "409", "429"]'


def _config() -> str:
    """schemathesis's configuration: 422 among a positive request's answers only where listed above."""
    entries = []
    for method, path in BEYOND_THE_SCHEMA:
        entries.append(
            f'[[operations]]\ninclude-path = "{path}"\ninclude-method = "{method}"\n'
            "[operations.checks.positive_data_acceptance]\n"
            f'expected-statuses = {POSITIVE_STATUSES[:-1]}, "422"]\n'
        )
    return "\n".join(entries)


@pytest.fixture(scope="module")
def running(infra, tmp_path_factory) -> Iterator[dict[str, str]]:
    """The services as processes, their limits raised: schemathesis is one caller sending
    thousands of requests, and a 429 would only hide what it tests."""
    env = {
        **os.environ,
        "CPNET_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "CPNET_DATABASE_URL": infra.database_url,
        "CPNET_LOG_FORMAT": "json",
        "CPNET_RATE_LIMIT_WRITES_PER_MINUTE": "1000000",
        "CPNET_RATE_LIMIT_ADDRESS_PER_MINUTE": "1000000",
        "CPNET_RATE_LIMIT_PERSONAL_READS_PER_MINUTE": "1000000",
    }
    subprocess.run(
        [sys.executable, "-m", "cpnet.cli", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    with serving(list(SERVICES), env, tmp_path_factory.mktemp("service-logs")) as urls:
        yield urls


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_answers_as_its_openapi_document_says(
    running: dict[str, str], service: str, tmp_path: Path
) -> None:
    document = httpx.get(f"{running[service]}/openapi.json").json()
    for (method, path), words in BEYOND_THE_SCHEMA.items():
        if path in document["paths"]:
            described = document["paths"][path][method.lower()]["responses"]["422"]["description"]
            assert words in described, f"{method} {path}: its 422 does not say {words!r}"
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config())
    supervisor = token(Role.supervisor, "sup-chengqu", jurisdiction="140402")["Authorization"]
    schemathesis = Path(sys.executable).parent / "schemathesis"
    run = subprocess.run(
        [
            str(schemathesis),
            "--config-file",
            str(config),
            "run",
            f"{running[service]}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: {supervisor}",
            "--max-examples",
            "20",
            "--max-time",
            str(BUDGET_S),
            "--workers",
            "1",
            "--seed",
            "20261205",
            "--no-shrink",
            "--output-sanitize",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=BUDGET_S * 3,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    selected, tested = re.search(r"Selected: (\d+)/", run.stdout), re.search(r"Tested: (\d+)", run.stdout)
    assert selected and tested and tested[1] == selected[1], "every operation tested within the budget"
