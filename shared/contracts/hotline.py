"""The raw report the hotline integration publishes on `intake.reports.raw`, version 1 (contracts 1.8
add the description of a child nobody can name): the only contract that carries personal data, and
only intake consumes it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

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
PhoneNumber = Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=r"^\+?[0-9][0-9 ()-]*$")]
NATIONAL_ID_PATTERN = r"^([0-9]{17}[0-9Xx]|[0-9]{15})$"
NationalId = Annotated[str, StringConstraints(pattern=NATIONAL_ID_PATTERN)]
Sex = Literal["F", "M", "U"]
AgeEstimate = Annotated[int, Field(ge=0, le=17)]
Address = Annotated[str, StringConstraints(max_length=500)]
SchoolName = Annotated[str, StringConstraints(max_length=200)]


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


UNNAMED = "child must be identified by national_id, or by name together with birth_date or age_estimate"
UNIDENTIFIABLE = f"{UNNAMED}, or (a child nobody can name) described by appearance and age_estimate"


def identifies(
    *, national_id: str | None, name: str | None, birth_date: date | None, age_estimate: int | None
) -> bool:
    """Whether a child is named: by national id, or by name together with a birth date or an age."""
    dated = birth_date is not None or age_estimate is not None
    return national_id is not None or (name is not None and dated)


def field_error(field: str, message: str, *, model: str) -> ValidationError:
    """A validation error located at one field of a model (a model validator's own errors are
    located at the model): the 422 then names the field."""
    return ValidationError.from_exception_data(
        model, [InitErrorDetails(type=PydanticCustomError("value_error", message), loc=(field,), input=None)]
    )


class Child(ContractModel):
    """The child the report is about, identified by national_id, or by name together with
    birth_date or age_estimate. A child nobody can name (a street child, the boy next door) is
    described instead: sex, age_estimate, appearance and place_seen, the report's jurisdiction
    being where the child was seen; intake registers it as a provisional child."""

    name: PersonName | None = Field(default=None, json_schema_extra=PERSONAL_DATA)
    national_id: NationalId | None = Field(default=None, json_schema_extra=PERSONAL_DATA)
    sex: Sex = Field(json_schema_extra=PERSONAL_DATA)
    birth_date: date | None = Field(default=None, json_schema_extra=PERSONAL_DATA)
    age_estimate: AgeEstimate | None = None
    address: Address | None = Field(default=None, json_schema_extra=PERSONAL_DATA)
    school: SchoolName | None = Field(default=None, json_schema_extra=PERSONAL_DATA)
    appearance: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = Field(
        default=None,
        json_schema_extra=PERSONAL_DATA,
        description="What the child looks like, in the reporter's words (since contracts 1.8); required "
        "for a child with neither national_id nor name",
    )
    place_seen: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        default=None,
        json_schema_extra=PERSONAL_DATA,
        description="Where the child was seen, in words (since contracts 1.8); the report's jurisdiction "
        "is the village where that is",
    )

    @field_validator("birth_date")
    @classmethod
    def _born_already(cls, born: date | None) -> date | None:
        # Checked with the other fields, so whoever filled the form is told every mistake at once (issue
        # 19); "today" is the latest date anywhere (UTC+14), so no time zone refuses a child born today.
        if born is not None and born > (datetime.now(UTC) + timedelta(hours=14)).date():
            raise ValueError("cannot be in the future")
        return born

    @property
    def provisional(self) -> bool:
        """Nobody could name the child: it is described, never matched by name or id."""
        return self.national_id is None and self.name is None

    @model_validator(mode="after")
    def _is_identifiable(self) -> Child:
        if identifies(
            national_id=self.national_id,
            name=self.name,
            birth_date=self.birth_date,
            age_estimate=self.age_estimate,
        ):
            return self
        if not self.provisional or self.appearance is None:
            raise ValueError(UNIDENTIFIABLE)
        if self.age_estimate is None and self.birth_date is None:
            raise field_error(
                "age_estimate", "a child nobody can name needs an approximate age", model="Child"
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
    narrative: Annotated[str, StringConstraints(max_length=10_000)] = Field(json_schema_extra=PERSONAL_DATA)
