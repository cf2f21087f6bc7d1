"""The raw report the hotline integration publishes on `intake.reports.raw`, version 1:
the only contract that carries personal data, and only intake consumes it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator

from shared.contracts.envelope import ContractModel
from shared.contracts.vocabulary import (
    Category,
    Channel,
    Indicator,
    Jurisdiction,
    OpaqueRef,
    UtcDatetime,
)

# Marks a field as personal data in the exported JSON Schema, so tooling and tests can
# prove that no other contract carries any.
PERSONAL_DATA: dict[str, Any] = {"x-personal-data": True}

PersonName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
PhoneNumber = Annotated[
    str, StringConstraints(min_length=3, max_length=32, pattern=r"^\+?[0-9][0-9 ()-]*$")
]
NationalId = Annotated[str, StringConstraints(pattern=r"^([0-9]{17}[0-9Xx]|[0-9]{15})$")]


class Reporter(ContractModel):
    """Who called. An anonymous reporter gives neither name nor phone."""

    role: Channel = Field(description="The reporter's relation to the child or their office")
    name: PersonName | None = Field(default=None, json_schema_extra=PERSONAL_DATA)
    phone: PhoneNumber | None = Field(default=None, json_schema_extra=PERSONAL_DATA)
    anonymous: bool

    @model_validator(mode="after")
    def _anonymous_means_unnamed(self) -> Reporter:
        # Keeping an anonymous caller's identity would break the promise the hotline made.
        if self.anonymous and (self.name is not None or self.phone is not None):
            raise ValueError("an anonymous reporter must not carry a name or phone")
        return self


class Child(ContractModel):
    """The child the report is about, identified by national_id, or by name together with
    birth_date or age_estimate."""

    name: PersonName | None = Field(default=None, json_schema_extra=PERSONAL_DATA)
    national_id: NationalId | None = Field(default=None, json_schema_extra=PERSONAL_DATA)
    sex: Literal["F", "M", "U"] = Field(json_schema_extra=PERSONAL_DATA)
    birth_date: date | None = Field(default=None, json_schema_extra=PERSONAL_DATA)
    age_estimate: Annotated[int, Field(ge=0, le=17)] | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, json_schema_extra=PERSONAL_DATA
    )
    school: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, json_schema_extra=PERSONAL_DATA
    )

    @model_validator(mode="after")
    def _is_identifiable(self) -> Child:
        named_with_age = self.name is not None and (
            self.birth_date is not None or self.age_estimate is not None
        )
        if self.national_id is None and not named_with_age:
            raise ValueError(
                "child must be identified by national_id, or by name together with "
                "birth_date or age_estimate"
            )
        return self


class HotlineReport(ContractModel):
    """A report taken by the hotline. Kafka key: external_id. Not enveloped: the hotline
    vendor publishes it as is; intake turns it into `case.reported`."""

    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "intake.reports.raw"
    # The name the topic registry lists for this message, which has no event_type field.
    EVENT_TYPE: ClassVar[str] = "hotline.report"

    schema_version: Literal[1]
    external_id: OpaqueRef = Field(description="The hotline's own id for the report")
    channel: Channel
    received_at: UtcDatetime
    reporter: Reporter
    child: Child
    jurisdiction: Jurisdiction
    categories: Annotated[list[Category], Field(min_length=1)]
    indicators: list[Indicator]
    narrative: Annotated[str, StringConstraints(max_length=10_000)] = Field(
        json_schema_extra=PERSONAL_DATA
    )
