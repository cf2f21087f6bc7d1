"""The disclosure policy: which fields of a child's details each reader is shown."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.intake.disclosure import DEFAULT_POLICY, DisclosureError, load_disclosure
from shared.auth import Principal
from shared.contracts.vocabulary import Agency, PersonalField, Role

POLICY = load_disclosure()


def officer(agency: Agency) -> Principal:
    return Principal(subject="officer-1", role=Role.agency_officer, agency=agency, jurisdiction="1404")


def test_caseworkers_and_supervisors_see_the_whole_file() -> None:
    for role in (Role.caseworker, Role.supervisor):
        shown = set(POLICY.fields_for(Principal(subject="u", role=role, jurisdiction="1404")))
        assert {
            PersonalField.name,
            PersonalField.national_id,
            PersonalField.address,
            PersonalField.narratives,
            PersonalField.reporters,
        } <= shown


def test_each_agency_sees_only_its_own_list() -> None:
    police = POLICY.fields_for(officer(Agency.police))
    education = POLICY.fields_for(officer(Agency.education))
    assert PersonalField.address in police and PersonalField.national_id in police
    assert PersonalField.school in education
    assert PersonalField.narratives not in education, "a school needs the child, not the story"
    assert PersonalField.national_id not in education


def test_no_agency_is_shown_who_reported_the_child() -> None:
    for agency in Agency:
        assert PersonalField.reporters not in POLICY.fields_for(officer(agency)), agency


@pytest.mark.parametrize("role", [Role.operator, Role.auditor, Role.reporter, Role.hotline])
def test_roles_outside_casework_are_shown_nothing(role: Role) -> None:
    jurisdiction = "140402" if role is Role.reporter else ""
    assert POLICY.fields_for(Principal(subject="u", role=role, jurisdiction=jurisdiction)) == ()


def _write(tmp_path: Path, change) -> Path:
    document = yaml.safe_load(DEFAULT_POLICY.read_text())
    change(document)
    path = tmp_path / "disclosure.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["agencies"].pop("court"), "agencies: no fields given for court"),
        (lambda d: d["agencies"]["police"].append("blood_type"), "agencies.police.10"),
        (lambda d: d["agencies"]["police"].append("risks"), "risks is not a field of a child's details"),
        (lambda d: d["agencies"]["police"].append("name"), "a field is listed twice"),
        (
            lambda d: d["roles"].update(operator=["name"]),
            "operator does not read a child's file by territory",
        ),
        (lambda d: d["agencies"].update(fire_brigade=["name"]), "agencies.fire_brigade: unknown name"),
        (lambda d: d.pop("version"), "version: Field required"),
    ],
)
def test_a_bad_policy_stops_intake_with_one_line_naming_the_field(
    tmp_path: Path, change, message: str
) -> None:
    path = _write(tmp_path, change)
    with pytest.raises(DisclosureError) as error:
        load_disclosure(path)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert str(path) in str(error.value)
