"""Consent and assent, pure (services/intake/consent.py): who gives a consent and who only an assent, what
lets an agency or a provider read, and what a withdrawal tells the agencies."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.intake import consent as rules
from services.intake.disclosure import load_disclosure
from shared.auth import Principal
from shared.contracts.vocabulary import (
    CHILD_CONSENT_AGE,
    Agency,
    ConsentGiver,
    ConsentKind,
    ConsentWay,
    OverrideReason,
    PersonalField,
    ProviderKind,
    Role,
    SharingParty,
)

CASE = uuid.uuid4()
NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
TODAY = date(2026, 12, 6)
ORGANISATION = SharingParty.social_work_organisation


def given(
    by: ConsentGiver, *parties: SharingParty, age: int | None = 10, at: datetime = NOW
) -> rules.Consent:
    return rules.given(
        case_id=CASE,
        given_by=by,
        way=ConsentWay.written,
        parties=parties,
        given_on=TODAY,
        age=age,
        by="cw-1",
        at=at,
    )


def override(*parties: SharingParty, at: datetime = NOW) -> rules.Consent:
    return rules.overridden(
        case_id=CASE, reason=OverrideReason.best_interests, parties=parties, on=TODAY, by="sup-1", at=at
    )


@pytest.mark.parametrize(
    ("by", "age", "kind"),
    [
        (ConsentGiver.guardian, 8, ConsentKind.consent),
        (ConsentGiver.child, CHILD_CONSENT_AGE - 1, ConsentKind.assent),
        (ConsentGiver.child, CHILD_CONSENT_AGE, ConsentKind.consent),
        (ConsentGiver.child, None, ConsentKind.assent),
    ],
)
def test_a_child_consents_from_15_and_assents_below(
    by: ConsentGiver, age: int | None, kind: ConsentKind
) -> None:
    assert given(by, ORGANISATION, age=age).kind is kind


def test_only_a_consent_or_override_in_force_naming_the_kind_lets_it_read() -> None:
    assent = given(ConsentGiver.child, ORGANISATION, age=10)
    education = given(ConsentGiver.guardian, SharingParty.education)
    assert rules.entitling([assent, education], ORGANISATION, emergency_police=False) == (
        rules.NO_CONSENT,
        None,
    )
    consent = given(ConsentGiver.guardian, ORGANISATION, at=NOW + timedelta(minutes=1))
    assert rules.entitling([assent, education, consent], ORGANISATION, emergency_police=False) == (
        None,
        consent.id,
    )
    ended = rules.withdrawn(consent, on=TODAY, by="cw-1", at=NOW + timedelta(hours=1))
    assert (
        rules.entitling([assent, education, ended], ORGANISATION, emergency_police=False)[0]
        == rules.NO_CONSENT
    )


def test_a_familys_consent_is_named_before_a_supervisors_override() -> None:
    first = override(ORGANISATION)
    family = given(ConsentGiver.guardian, ORGANISATION, at=NOW + timedelta(days=1))
    assert rules.entitling([first, family], ORGANISATION, emergency_police=False) == (None, family.id)
    assert rules.entitling([first], ORGANISATION, emergency_police=False) == (None, first.id)


def test_the_police_on_an_emergency_and_the_cases_own_people_need_no_consent() -> None:
    assert rules.entitling([], SharingParty.police, emergency_police=True) == (None, None)
    assert rules.entitling([], SharingParty.police, emergency_police=False) == (rules.NO_CONSENT, None)
    caseworker = rules.party_of(Role.caseworker, None, None)
    assert caseworker is None and rules.entitling([], caseworker, emergency_police=False) == (None, None)
    assert rules.party_of(Role.agency_officer, Agency.education, None) is SharingParty.education
    assert rules.party_of(Role.provider_worker, None, ProviderKind.legal_organisation) is (
        SharingParty.legal_organisation
    )


def test_a_withdrawal_is_once_never_before_its_giving_and_told_to_the_agencies_it_named_alone() -> None:
    consent = given(ConsentGiver.guardian, ORGANISATION, SharingParty.womens_federation, SharingParty.police)
    with pytest.raises(rules.ConsentRefused, match="before the day it was given"):
        rules.withdrawn(consent, on=TODAY - timedelta(days=1), by="cw-1", at=NOW)
    ended = rules.withdrawn(consent, on=TODAY, by="cw-1", at=NOW)
    with pytest.raises(rules.ConsentRefused, match="withdrawn already"):
        rules.withdrawn(ended, on=TODAY, by="cw-1", at=NOW)
    told = rules.told_to_agencies(ended, "140402001001", "140402-2026-00001")
    assert [t.agency for t in told] == [Agency.womens_federation, Agency.police], "a provider has no kit"
    assert {t.consent_id for t in told} == {consent.id}
    event = rules.announced(ended, "140402001001", by="cw-1", at=NOW)
    assert event.withdrawn_on == TODAY and event.kind is ConsentKind.consent


def test_a_consent_names_at_least_one_kind() -> None:
    with pytest.raises(rules.ConsentRefused, match="parties"):
        given(ConsentGiver.guardian)


def test_a_providers_worker_is_shown_what_its_kind_may_see_and_never_who_reported() -> None:
    policy = load_disclosure()
    worker = Principal(
        subject="sw-1", role=Role.provider_worker, provider=uuid.uuid4(), jurisdiction="140402"
    )
    assert policy.fields_for(worker) == (), "nothing before its services say which kind it is"
    for kind in ProviderKind:
        shown = policy.fields_for(worker, kind)
        assert shown and PersonalField.reporters not in shown, kind
    assert PersonalField.national_id not in policy.fields_for(worker, ProviderKind.social_work_organisation)
