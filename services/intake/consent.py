"""Consent and assent to share a child's details (知情同意), pure: what a record says, how it is given,
withdrawn or overridden, and whether it lets an agency's officer or a provider's worker read.

Who may read at all is decided first (the territory, an open referral, an open service); this says
whether the family agreed to that reader's kind. The police on an emergency are never refused; the
case's own caseworkers and supervisors do not need a consent to do their work."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from shared.contracts.events import ConsentChanged, ConsentWithdrawn
from shared.contracts.vocabulary import (
    CHILD_CONSENT_AGE,
    Agency,
    ConsentGiver,
    ConsentKind,
    ConsentWay,
    OverrideReason,
    ProviderKind,
    Role,
    SharingParty,
)

NO_CONSENT = "no_consent"


class ConsentRefused(ValueError):
    """A change the record cannot take (withdrawn twice); the message says why in one line."""


@dataclass(frozen=True)
class Consent:
    """One record: a consent, an assent or a supervisor's override, with its withdrawal once made."""

    id: uuid.UUID
    case_id: uuid.UUID
    kind: ConsentKind
    parties: tuple[SharingParty, ...]
    given_on: date
    recorded_by: str
    recorded_at: datetime
    given_by: ConsentGiver | None = None
    way: ConsentWay | None = None
    reason: OverrideReason | None = None
    withdrawn_on: date | None = None
    withdrawn_by: str | None = None
    withdrawn_at: datetime | None = None

    @property
    def in_force(self) -> bool:
        return self.withdrawn_on is None

    def allows(self, party: SharingParty) -> bool:
        """Whether this record lets `party` read: a consent or an override naming it, not withdrawn
        (an assent is the child's word beside the guardian's, never enough alone)."""
        return self.in_force and self.kind is not ConsentKind.assent and party in self.parties


def kind_given(given_by: ConsentGiver, age: int | None) -> ConsentKind:
    """A guardian's word is a consent; a child's is a consent from CHILD_CONSENT_AGE, an assent below it
    (and when nobody knows the child's age)."""
    if given_by is ConsentGiver.guardian:
        return ConsentKind.consent
    return ConsentKind.consent if age is not None and age >= CHILD_CONSENT_AGE else ConsentKind.assent


def given(
    *,
    case_id: uuid.UUID,
    given_by: ConsentGiver,
    way: ConsentWay,
    parties: Iterable[SharingParty],
    given_on: date,
    age: int | None,
    by: str,
    at: datetime,
) -> Consent:
    return Consent(
        id=uuid.uuid4(),
        case_id=case_id,
        kind=kind_given(given_by, age),
        parties=_named(parties),
        given_on=given_on,
        given_by=given_by,
        way=way,
        recorded_by=by,
        recorded_at=at,
    )


def overridden(
    *,
    case_id: uuid.UUID,
    reason: OverrideReason,
    parties: Iterable[SharingParty],
    on: date,
    by: str,
    at: datetime,
) -> Consent:
    """A supervisor's decision to share without consent, with its reason in law or in the child's interest."""
    return Consent(
        id=uuid.uuid4(),
        case_id=case_id,
        kind=ConsentKind.override,
        parties=_named(parties),
        given_on=on,
        reason=reason,
        recorded_by=by,
        recorded_at=at,
    )


def withdrawn(consent: Consent, *, on: date, by: str, at: datetime) -> Consent:
    if not consent.in_force:
        raise ConsentRefused(f"withdrawn already, on {consent.withdrawn_on.isoformat()}")
    if on < consent.given_on:
        raise ConsentRefused("withdrawn_on: before the day it was given")
    return replace(consent, withdrawn_on=on, withdrawn_by=by, withdrawn_at=at)


def _named(parties: Iterable[SharingParty]) -> tuple[SharingParty, ...]:
    named = tuple(dict.fromkeys(SharingParty(p) for p in parties))
    if not named:
        raise ConsentRefused("parties: name at least one kind of agency or provider")
    return named


def party_of(role: Role, agency: Agency | None, provider_kind: ProviderKind | None) -> SharingParty | None:
    """The kind a reader shares as: its agency, or its provider's kind; None for the case's own people."""
    if role is Role.agency_officer and agency is not None:
        return SharingParty(agency.value)
    if role is Role.provider_worker and provider_kind is not None:
        return SharingParty(provider_kind.value)
    return None


def entitling(
    consents: Sequence[Consent], party: SharingParty | None, *, emergency_police: bool
) -> tuple[str | None, uuid.UUID | None]:
    """(refusal, consent_id): None and the record that allows the read (None when none is needed: the
    case's own people, the police on an emergency), or `no_consent` and None."""
    if party is None or emergency_police:
        return None, None
    allowing = [c for c in consents if c.allows(party)]
    if not allowing:
        return NO_CONSENT, None
    # A family's own consent is named before a supervisor's override when both allow.
    allowing.sort(key=lambda c: (c.kind is ConsentKind.override, c.recorded_at))
    return None, allowing[0].id


def announced(consent: Consent, jurisdiction: str, *, by: str, at: datetime) -> ConsentChanged:
    return ConsentChanged(
        consent_id=consent.id,
        case_id=consent.case_id,
        kind=consent.kind,
        given_by=consent.given_by,
        way=consent.way,
        reason=consent.reason,
        parties=list(consent.parties),
        given_on=consent.given_on,
        withdrawn_on=consent.withdrawn_on,
        jurisdiction=jurisdiction,
        recorded_by=by,
        changed_at=at,
    )


def told_to_agencies(consent: Consent, jurisdiction: str, case_number: str | None) -> list[ConsentWithdrawn]:
    """A withdrawal, on the topic of every kind of agency the record named (providers have no kit: the
    refusal of their next read is intake's alone)."""
    agencies = [Agency(p.value) for p in consent.parties if p.value in Agency.__members__]
    return [
        ConsentWithdrawn(
            consent_id=consent.id,
            case_id=consent.case_id,
            agency=agency,
            jurisdiction=jurisdiction,
            withdrawn_on=consent.withdrawn_on,
            withdrawn_at=consent.withdrawn_at,
            case_number=case_number,
        )
        for agency in agencies
    ]
