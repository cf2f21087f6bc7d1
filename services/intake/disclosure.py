"""The disclosure policy (config/disclosure.yaml): which fields of a child's details each
reader is shown — by role for caseworkers and supervisors, by agency for agency officers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.auth import Principal
from shared.config import load_yaml_config
from shared.contracts.vocabulary import Agency, PersonalField, ProviderKind, Role

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "config" / "disclosure.yaml"

# The fields GET /v1/cases/{case_id}/child can show; the archive's sections are the
# archive's own and only caseworkers and supervisors read them.
# The identity (the registry's; a child nobody could name is described by appearance and place_seen).
IDENTITY_FIELDS = (
    PersonalField.name,
    PersonalField.national_id,
    PersonalField.sex,
    PersonalField.birth_date,
    PersonalField.age_estimate,
    PersonalField.address,
    PersonalField.school,
    PersonalField.appearance,
    PersonalField.place_seen,
)
DETAIL_FIELDS = (*IDENTITY_FIELDS, PersonalField.narratives, PersonalField.reporters)
# Only these roles read a child's file by territory; agency officers read it by referral.
FILE_ROLES = (Role.caseworker, Role.supervisor)


class DisclosureError(ValueError):
    """The policy file is invalid; one line naming the file and the field."""


def _detail_fields(fields: list[PersonalField]) -> list[PersonalField]:
    unknown = [f.value for f in fields if f not in DETAIL_FIELDS]
    if unknown:
        raise ValueError(f"{', '.join(unknown)} is not a field of a child's details")
    if len(set(fields)) != len(fields):
        raise ValueError("a field is listed twice")
    return fields


class DisclosurePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    roles: dict[Role, list[PersonalField]]
    agencies: dict[Agency, list[PersonalField]] = Field(
        description="every agency, each with its fields (an empty list shows nothing)"
    )
    providers: dict[ProviderKind, list[PersonalField]] = Field(
        default_factory=dict,
        description="each kind of provider whose workers read the child's details of the services their "
        "organisation delivers; a kind not listed is shown nothing",
    )

    @field_validator("roles")
    @classmethod
    def _only_file_roles(cls, value: dict[Role, list[PersonalField]]) -> dict[Role, list[PersonalField]]:
        for role, fields in value.items():
            if role not in FILE_ROLES:
                raise ValueError(
                    f"{role} does not read a child's file by territory (only "
                    f"{', '.join(FILE_ROLES)} do; agencies are listed under agencies)"
                )
            _detail_fields(fields)
        return value

    @field_validator("agencies")
    @classmethod
    def _every_agency(cls, value: dict[Agency, list[PersonalField]]) -> dict[Agency, list[PersonalField]]:
        # A forgotten agency would be refused its referrals' details without anyone noticing.
        missing = [a.value for a in Agency if a not in value]
        if missing:
            raise ValueError(f"no fields given for {', '.join(missing)}")
        for fields in value.values():
            _detail_fields(fields)
        return value

    @field_validator("providers")
    @classmethod
    def _provider_fields(
        cls, value: dict[ProviderKind, list[PersonalField]]
    ) -> dict[ProviderKind, list[PersonalField]]:
        for fields in value.values():
            _detail_fields(fields)
        return value

    def fields_for(
        self, principal: Principal, provider_kind: ProviderKind | None = None
    ) -> tuple[PersonalField, ...]:
        """What this reader may be shown, in the policy's order; () for anyone else. A provider's worker
        is shown what the kind of its provider may be (`provider_kind`, known from its services)."""
        if principal.role is Role.agency_officer and principal.agency is not None:
            return tuple(self.agencies.get(principal.agency, ()))
        if principal.role is Role.provider_worker:
            return tuple(self.providers.get(provider_kind, ())) if provider_kind else ()
        return tuple(self.roles.get(principal.role, ()))


def load_disclosure(path: Path | None = None) -> DisclosurePolicy:
    return load_yaml_config(path or DEFAULT_POLICY, DisclosurePolicy, DisclosureError)
