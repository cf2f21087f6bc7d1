"""Every word of the console in both languages: each string of each template and each code the
pages show (grades, categories, stages, roles, what is due) has a translation in the zh-CN and
the English catalog, and the language is the person's choice, else their browser's, else Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from services.audit.agenda import REASONS as AGENDA_REASONS
from services.casework.waiting import WAITING
from services.console.i18n import LOCALES, LOCALES_DIR, languages, negotiate
from services.console.navigation import PAGES
from services.console.report_form import SEXES, TEXT_FIELDS
from services.console.views.approvals import REJECTION_REASONS
from services.console.views.cases import ARCHIVE_PARTS, ASSIGN_REASONS, OVERRIDE_REASONS, PLAN_ACTIONS
from services.console.views.inbox import DECLINE_REASONS, NOT_DONE_REASONS
from services.console.worklist import OWNERS, QUICK
from shared.contracts.envelope import EVENT_TYPES
from shared.contracts.vocabulary import (
    AccessPurpose,
    ActionItemState,
    ActionTask,
    Agency,
    Category,
    Channel,
    ClosureReason,
    ComplaintFinding,
    ComplaintKind,
    ComplaintSource,
    ConsentGiver,
    ConsentKind,
    ConsentWay,
    GuardianshipGap,
    IdentificationReason,
    Indicator,
    JudgementResult,
    LawsuitStep,
    LinkUndoReason,
    MeetingDecision,
    Need,
    OverrideReason,
    PersonalField,
    PersonalRecord,
    ProviderKind,
    ReferralState,
    ReopenReason,
    RiskLevel,
    Role,
    ScreenOutReason,
    ServiceKind,
    ServiceOutcome,
    ServiceState,
    SharingParty,
    Stage,
    TransferReason,
    WithdrawalReason,
)

TEMPLATES = Path(LOCALES_DIR).parent / "templates"
LANGUAGES = languages()
CODES = {
    "risk_level": [*RiskLevel, "none"],
    "category": list(Category),
    "stage": list(Stage),
    "role": list(Role),
    "service_state": list(ServiceState),
    "service_kind": list(ServiceKind),
    "provider_kind": list(ProviderKind),
    "service_outcome": list(ServiceOutcome),
    "satisfaction": [1, 2, 3, 4, 5],
    "lawsuit_step": list(LawsuitStep),
    "meeting_decision": list(MeetingDecision),
    "action_task": list(ActionTask),
    "action_item_state": list(ActionItemState),
    "agenda_reason": list(AGENDA_REASONS),
    "guardianship_gap": list(GuardianshipGap),
    "judgement_result": list(JudgementResult),
    "due": ["review", "referral", "visit", "service", "none"],
    "channel": list(Channel),
    "indicator": list(Indicator),
    "sex": list(SEXES),
    "purpose": list(AccessPurpose),
    "field": [*TEXT_FIELDS, "reporter_anonymous", "categories", "indicators", "purpose"],
    "error": [
        "missing",
        "too_long",
        "choice",
        "date",
        "number",
        "invalid",
        "outside_territory",
        "future",
        "adult",
        "age_needed",
        "phone",
        "phone_alone",
    ],
    # The archive's records and the stores of personal data share the kind "record".
    "record": ["home_visit", "assessment_report", "plan", "override", *PersonalRecord],
    "note_action": [
        "assignment",
        "review",
        "approval_request",
        "approval_decision",
        "link_undone",
        "reopening",
    ],
    "identification": list(IdentificationReason),
    "link_kind": ["linked", "identity_given"],
    "agency": list(Agency),
    "referral_state": list(ReferralState),
    "need": list(Need),
    "assign_reason": list(ASSIGN_REASONS),
    "screen_out": list(ScreenOutReason),
    "event": [*(event_type for event_type, _ in EVENT_TYPES), "access.written"],
    "problem": [
        "not_yours",
        "refused",
        "invalid",
        "open_referrals",
        "no_recent_visit",
        "case_number",
        "no_match",
        "child_has_open_case",
        "merged_by_link",
    ],
    "personal": list(PersonalField),
    "approval": ["close", "screen_out", "transfer", "reopen"],
    "archive": list(ARCHIVE_PARTS),
    "plan_action": list(PLAN_ACTIONS),
    "approval_state": ["pending", "approved", "rejected"],
    "waiting": sorted({w.kind for counts in WAITING.values() for w in counts}),
    "case_state": ["open", "closed"],
    "quick": [name for name, _ in QUICK],
    "owner": list(OWNERS),
    "outcome": ["successful", "not_successful"],
    "referral_action": ["acknowledge", "start", "complete", "decline"],
    "access_action": ["read", "write", "search", "export"],
    "access_outcome": ["shown", "refused"],
    "refusal": ["outside_territory", "no_open_referral", "other_agency", "no_consent", "no_open_service"],
    "consent_kind": list(ConsentKind),
    "consent_giver": list(ConsentGiver),
    "consent_way": list(ConsentWay),
    "consent_override_reason": list(OverrideReason),
    "sharing_party": list(SharingParty),
    "complaint_kind": list(ComplaintKind),
    "complaint_source": list(ComplaintSource),
    "complaint_finding": list(ComplaintFinding),
    "review": ["screened_in", "screened_out"],
    "reason": [
        *ClosureReason,
        *ScreenOutReason,
        *TransferReason,
        *REJECTION_REASONS,
        *DECLINE_REASONS,
        *NOT_DONE_REASONS,
        *OVERRIDE_REASONS,
        *WithdrawalReason,
        *LinkUndoReason,
        *ReopenReason,
    ],
}


def _template_strings() -> set[str]:
    found = extract_from_dir(
        str(TEMPLATES),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    return {message for _, _, message, _, _ in found}


def test_the_templates_have_strings_to_translate() -> None:
    throttled = "Too many sign-in attempts. Wait %(seconds)s seconds, then try again."
    assert {"Sign in", "Board", throttled} <= _template_strings()


@pytest.mark.parametrize("locale", LOCALES)
def test_every_template_string_is_translated(locale: str) -> None:
    catalog = LANGUAGES[locale].translations
    # A plural message (singular, plural) is kept by its singular and the index of each form.
    missing = sorted(
        str(m)
        for m in _template_strings()
        if catalog._catalog.get((m[0], 0) if isinstance(m, tuple) else m) in (None, "")
    )
    assert missing == []


@pytest.mark.parametrize("locale", LOCALES)
def test_every_link_of_the_header_is_translated(locale: str) -> None:
    catalog = LANGUAGES[locale].translations
    assert [page.title for page in PAGES if catalog._catalog.get(page.title) in (None, "")] == []


@pytest.mark.parametrize("locale", LOCALES)
def test_every_code_is_shown_as_words(locale: str) -> None:
    language = LANGUAGES[locale]
    for kind, codes in CODES.items():
        for code in codes:
            words = language.label(kind, code)
            assert words and words != f"{kind}:{code}", (locale, kind, code)


def test_the_chinese_catalog_is_chinese() -> None:
    zh, en = LANGUAGES["zh_CN"], LANGUAGES["en"]
    assert zh.gettext("Sign in") == "登录" and en.gettext("Sign in") == "Sign in"
    assert zh.label("risk_level", "red").startswith("红色") and en.label("risk_level", "red").startswith(
        "Red"
    )
    assert zh.labels("category", ["abuse", "left_behind"]) == "遭受侵害、农村留守儿童"


@pytest.mark.parametrize(
    ("accept", "chosen", "expected"),
    [
        (None, None, "zh_CN"),
        ("en-US,en;q=0.9", None, "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh_CN"),
        ("fr-FR", None, "zh_CN"),
        ("en;q=0.2,zh;q=0.9", None, "zh_CN"),
        ("en-GB", "zh_CN", "zh_CN"),
        ("zh-CN", "en", "en"),
        ("en", "klingon", "en"),
        ("en;q=abc", None, "zh_CN"),
    ],
)
def test_the_language_is_the_persons_choice_else_the_browsers_else_chinese(accept, chosen, expected) -> None:
    assert negotiate(accept, chosen) == expected


def test_dates_are_in_the_persons_locale_and_the_citys_time() -> None:
    moment = "2026-12-02T16:30:00Z"  # 00:30 the next day in China Standard Time
    assert LANGUAGES["zh_CN"].when(moment).startswith("2026年12月3日")
    assert LANGUAGES["en"].when(moment).startswith("Dec 3, 2026")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_factor_of_a_grade_is_shown_as_words(locale: str) -> None:
    language = LANGUAGES[locale]
    for code in (
        "forcing_immediate_danger",
        "category_abuse",
        "indicator_visible_injury",
        "earlier_reports_2",
        "age_under_6",
        "age_unknown",
    ):
        words = language.factor(code)
        assert words and "_" not in words and "factor:" not in words, (locale, code, words)
    assert LANGUAGES["zh_CN"].factor("forcing_immediate_danger") == "面临紧急危险（直接定为红色）"
    assert LANGUAGES["en"].factor("earlier_reports_2") == "2 earlier reports"


@pytest.mark.parametrize(
    ("locale", "one", "seven"), [("en", "1 year old", "7 years old"), ("zh_CN", "1 岁", "7 岁")]
)
def test_an_age_is_said_in_the_languages_grammar(locale: str, one: str, seven: str) -> None:
    """The board and the inbox say a child's age with the catalog's plural forms: a one-year-old is
    not "1 years old"."""
    from services.console.pages import environments

    env = environments(languages())[locale]
    template = env.from_string('{{ ngettext("%(num)s year old", "%(num)s years old", age) }}')
    assert (template.render(age=1), template.render(age=7)) == (one, seven)
