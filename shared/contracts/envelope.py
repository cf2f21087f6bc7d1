"""The one envelope every cpnet event travels in, the registry of event types, and the
helpers that build, serialise and parse enveloped events."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.contracts.vocabulary import UtcDatetime


class ContractError(ValueError):
    """A message that no contract describes (unknown event type or version), or a
    contract used inconsistently."""


class ContractModel(BaseModel):
    """Base of every contract model: strict types, no unknown fields, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class EventPayload(ContractModel):
    """Base of every event payload. Subclasses name their type, version and topic."""

    EVENT_TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int]
    TOPIC: ClassVar[str]

    @classmethod
    def topic_for(cls, payload: EventPayload) -> str:
        """The topic this payload travels on; overridden where the topic depends on it."""
        return cls.TOPIC


PayloadT = TypeVar("PayloadT", bound=EventPayload)

EVENT_TYPES: dict[tuple[str, int], type[EventPayload]] = {}
"""Every known (event_type, schema_version) and the payload model that validates it."""

_P = TypeVar("_P", bound=type[EventPayload])


def register_event(payload_type: _P) -> _P:
    """Class decorator adding a payload model to EVENT_TYPES."""
    key = (payload_type.EVENT_TYPE, payload_type.SCHEMA_VERSION)
    if key in EVENT_TYPES and EVENT_TYPES[key] is not payload_type:
        raise ContractError(f"{key[0]} v{key[1]} is already registered")
    EVENT_TYPES[key] = payload_type
    return payload_type


class Envelope(ContractModel, Generic[PayloadT]):
    """The envelope of every cpnet event. `case_id` is the Kafka message key, so one
    case's events stay in order; W3C trace context travels in Kafka headers, not here."""

    event_id: UUID
    event_type: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    schema_version: Annotated[int, Field(ge=1)]
    occurred_at: UtcDatetime
    case_id: UUID
    causation_id: UUID | None = Field(
        description="event_id of the event that caused this one; null for an outside cause"
    )
    correlation_id: UUID = Field(description="Shared by every event descending from the same first cause")
    producer: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    payload: PayloadT

    @model_validator(mode="after")
    def _matches_payload(self) -> Envelope[PayloadT]:
        # Catches an envelope whose header disagrees with what it carries, which would
        # route or key the event wrongly.
        payload_type = type(self.payload)
        carried = (
            getattr(payload_type, "EVENT_TYPE", None),
            getattr(payload_type, "SCHEMA_VERSION", None),
        )
        if (self.event_type, self.schema_version) != carried:
            raise ValueError(
                f"envelope says {self.event_type} v{self.schema_version} but the payload "
                f"is {carried[0]} v{carried[1]}"
            )
        payload_case_id = getattr(self.payload, "case_id", self.case_id)
        if payload_case_id != self.case_id:
            raise ValueError("envelope case_id differs from payload case_id")
        return self

    def to_json(self) -> bytes:
        """The event as UTF-8 JSON, ready to publish."""
        # serialize_as_any: an unparametrised Envelope would otherwise dump only the
        # fields of the EventPayload base, i.e. an empty payload.
        return self.model_dump_json(serialize_as_any=True).encode()


@functools.cache
def envelope_of(payload_type: type[PayloadT]) -> type[Envelope[PayloadT]]:
    """The envelope model of one payload type, made once and kept. Pydantic keeps its generic
    parametrisations only weakly: once no envelope of a type was alive, `Envelope[T]` built the
    whole model class again (7 % of a stage's profile when events came a few at a time)."""
    return Envelope[payload_type]  # type: ignore[valid-type]


def new_envelope(
    payload: PayloadT,
    *,
    case_id: UUID,
    producer: str,
    causation: Envelope[Any] | None = None,
    correlation_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[PayloadT]:
    """Wrap a payload in a fresh envelope, continuing the causal chain of `causation`."""
    if causation is not None:
        if correlation_id is not None and correlation_id != causation.correlation_id:
            raise ContractError("correlation_id conflicts with the causing event's")
        correlation_id = causation.correlation_id
    payload_type = type(payload)
    return envelope_of(payload_type)(
        event_id=uuid4(),
        event_type=payload_type.EVENT_TYPE,
        schema_version=payload_type.SCHEMA_VERSION,
        occurred_at=occurred_at or datetime.now(UTC),
        case_id=case_id,
        causation_id=causation.event_id if causation is not None else None,
        correlation_id=correlation_id or uuid4(),
        producer=producer,
        payload=payload,
    )


class _EventKey(BaseModel):
    """Just enough of an envelope to choose the payload model."""

    model_config = ConfigDict(strict=True, extra="ignore")

    event_type: str
    schema_version: int


def parse_event(raw: bytes | str) -> Envelope[Any]:
    """Validate an enveloped event from JSON. Raises ContractError for an unknown
    event type or version and pydantic.ValidationError for malformed data."""
    key = _EventKey.model_validate_json(raw)
    payload_type = EVENT_TYPES.get((key.event_type, key.schema_version))
    if payload_type is None:
        known = sorted(v for t, v in EVENT_TYPES if t == key.event_type)
        hint = f" (known versions: {known})" if known else ""
        raise ContractError(f"unknown event type {key.event_type!r} v{key.schema_version}{hint}")
    return envelope_of(payload_type).model_validate_json(raw)
