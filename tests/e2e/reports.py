"""Reports as the hotline vendor and reporting institutions send them, for end-to-end tests:
each with its own ids and its own (fictitious) child."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

from shared.auth import WHOLE_TERRITORY_ROLES, Role, directory_audience, issue_token
from shared.settings import Settings


def national_id() -> str:
    return "".join(random.choices("0123456789", k=17)) + random.choice("0123456789X")


def hotline_report(**changes) -> dict:
    """A valid report, each with its own hotline id and child."""
    tag = uuid.uuid4().hex[:10]
    report = {
        "schema_version": 1,
        "external_id": f"HL-{tag}",
        "channel": "hotline",
        "received_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "reporter": {
            "role": "neighbour",
            "name": f"Reporter {tag}",
            "phone": "+86 139 0000 1234",
            "anonymous": False,
        },
        "child": {
            "name": f"Child {tag}",
            "national_id": national_id(),
            "sex": "F",
            "birth_date": "2016-05-01",
            "age_estimate": None,
            "address": f"{tag} Riverside Lane",
            "school": f"School {tag}",
        },
        "jurisdiction": "140402001001",
        "categories": ["abuse"],
        "indicators": ["immediate_danger", "visible_injury"],
        "narrative": f"Narrative {tag}: the neighbour heard screaming.",
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(report.get(key), dict):
            report[key] = {**report[key], **value}
        else:
            report[key] = value
    return report


# Where each test caller works: a reporter in the county of the example reports (140402),
# casework roles and agency officers in the whole city (tests report from villages all over
# 1404); only operators, auditors and the hotline may have the whole territory.
CITY = "1404"
TERRITORY_OF = {Role.reporter: "140402"}


def territory_of(role: Role) -> str:
    return "" if role in WHOLE_TERRITORY_ROLES else TERRITORY_OF.get(role, CITY)


def token(
    role: Role = Role.reporter,
    subject: str = "school-140402001",
    jurisdiction: str | None = None,
    agency: str | None = None,
    provider: str | None = None,
) -> dict[str, str]:
    territory = territory_of(role) if jurisdiction is None else jurisdiction
    jwt = issue_token(
        Settings(), subject=subject, role=role, agency=agency, jurisdiction=territory, provider=provider
    )
    return {"Authorization": f"Bearer {jwt}"}


def assignment(caseworker: str, jurisdiction: str = CITY, **fields) -> dict:
    """An assignment's body as the console sends it: the caseworker, with the directory's word that they
    are an active caseworker of `jurisdiction` (services/console/views/cases.py mints the same)."""
    settings = Settings()
    vouched = issue_token(
        settings,
        subject=caseworker,
        role=Role.caseworker,
        jurisdiction=jurisdiction,
        audience=directory_audience(settings),
    )
    return {"caseworker": caseworker, "caseworker_token": vouched, **fields}
