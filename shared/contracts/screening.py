"""One child's row of a township's or village's screening survey (排查摸底), as `cpnet import
screening` publishes it on `intake.screening.raw`, version 1: personal data, read by intake only."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from shared.contracts.envelope import ContractModel
from shared.contracts.hotline import PERSONAL_DATA, UNNAMED, Child
from shared.contracts.vocabulary import (
    Caregiver,
    Category,
    DisabilityKind,
    GuardianWhereabouts,
    HealthStatus,
    Indicator,
    Jurisdiction,
    OpaqueRef,
    SchoolStatus,
    UtcDatetime,
)

MAX_CATEGORIES = len(Category)
MAX_INDICATORS = len(Indicator)


class ScreeningRecord(ContractModel):
    """A surveyed child's situation at home, at school and in health. Kafka key: external_id.
    Not enveloped: intake registers or matches the child, keeps the survey, and turns a record
    with categories into `case.reported`."""

    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "intake.screening.raw"
    # The name the topic registry lists for this message, which has no event_type field.
    EVENT_TYPE: ClassVar[str] = "screening.record"

    schema_version: Literal[1]
    external_id: OpaqueRef = Field(
        description="The import's id for the row: the first 16 hex digits of the file's SHA-256, "
        "a dash and the row number; the same file imported again gives the same ids"
    )
    surveyed_at: UtcDatetime
    surveyor_ref: OpaqueRef = Field(description="The surveyor's id in the township's own records")
    jurisdiction: Jurisdiction = Field(description="The village (community) where the child lives")
    child: Child
    # A family's situation (a parent in prison, on drugs, ill) is as sensitive as a name.
    father: GuardianWhereabouts = Field(json_schema_extra=PERSONAL_DATA)
    mother: GuardianWhereabouts = Field(json_schema_extra=PERSONAL_DATA)
    caregiver: Caregiver = Field(
        description="Who actually cares for the child", json_schema_extra=PERSONAL_DATA
    )
    school_status: SchoolStatus = Field(json_schema_extra=PERSONAL_DATA)
    health: HealthStatus = Field(json_schema_extra=PERSONAL_DATA)
    disability: DisabilityKind = Field(json_schema_extra=PERSONAL_DATA)
    categories: Annotated[list[Category], Field(max_length=MAX_CATEGORIES)] = Field(
        description="The kinds of difficulty the surveyor found; empty for a child who is fine"
    )
    indicators: Annotated[list[Indicator], Field(max_length=MAX_INDICATORS)]

    @model_validator(mode="after")
    def _indicators_belong_to_a_category(self) -> ScreeningRecord:
        # A case is typed by its categories (case.reported needs one): an indicator alone
        # would be a risk no one could route.
        if self.indicators and not self.categories:
            raise ValueError("indicators need at least one category")
        return self

    @model_validator(mode="after")
    def _a_named_child(self) -> ScreeningRecord:
        # A survey counts the children of its village by name: a child nobody can name is
        # reported (hotline, HTTP), where intake registers it as a provisional child.
        if self.child.provisional:
            raise ValueError(f"{UNNAMED}: a survey names every child it counts")
        return self

    @model_validator(mode="after")
    def _a_minor_when_surveyed(self) -> ScreeningRecord:
        born, on = self.child.birth_date, self.surveyed_at.date()
        if born is not None:
            if born > on:
                raise ValueError("child.birth_date: after surveyed_at")
            if on.year - born.year - ((on.month, on.day) < (born.month, born.day)) > 17:
                raise ValueError("child.birth_date: the child was 18 or older when surveyed")
        return self
