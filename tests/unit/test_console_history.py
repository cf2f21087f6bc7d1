"""A case's history and the access log as people read them: each step says who acted (their name
where the console knows them, else their id, and role), what was decided, and when, in the reader's
language; a change of the child's record reads as a write. And the inbox's and the access log's
queries, from what a person filled in."""

from __future__ import annotations

import uuid

import pytest

from services.console.history import Someone, actors, entry_in_words, step_in_words
from services.console.i18n import languages
from services.console.views.access import access_query
from services.console.views.inbox import answer_of, inbox_query

LANG = languages()
PEOPLE = {"u-boss": Someone("wang.supervisor", "supervisor"), "u-worker": Someone("li.worker", "caseworker")}
WHEN = "2026-12-05T02:00:00Z"


def _step(event_type: str, **payload) -> dict:
    return {"event_type": event_type, "occurred_at": WHEN, "payload": payload}


def test_an_approval_says_who_decided_and_that_it_was_rejected_and_why() -> None:
    step = _step(
        "case.approval_decided", kind="close", approved=False, reason="needs_more_visits", decided_by="u-boss"
    )
    en, zh = (step_in_words(LANG[locale], step, PEOPLE) for locale in ("en", "zh_CN"))
    assert (en.who, en.role, en.event) == ("wang.supervisor", "Supervisor", "Approval decided")
    assert en.what == "Closing; Rejected; Needs more visits"
    assert zh.what == "结案；已驳回；还需继续回访"
    assert en.when.startswith("Dec 5, 2026") and zh.when.startswith("2026年12月5日")


def test_a_reopening_says_who_reopened_it_why_where_it_is_again_and_who_approved_it() -> None:
    step = _step(
        "case.reopened",
        reason="new_risk",
        reopened_by="u-worker",
        approved_by="u-boss",
        stage="plan",
        risk_level="red",
    )
    en, zh = (step_in_words(LANG[locale], step, PEOPLE) for locale in ("en", "zh_CN"))
    assert (en.who, en.role, en.event) == ("li.worker", "Caseworker", "Reopened")
    assert en.what == f"New risk; back at: {LANG['en'].label('stage', 'plan')}; approved by wang.supervisor"
    assert (zh.event, zh.what) == ("重新开启个案", "出现新的风险；恢复至：帮扶方案；由wang.supervisor批准")
    assert actors([step]) == {"u-worker", "u-boss"}, "the approver is named too"
    own = step_in_words(
        LANG["en"],
        _step(
            "case.reopened",
            reason="closed_in_error",
            reopened_by="u-boss",
            approved_by="u-boss",
            stage="monitoring",
        ),
        PEOPLE,
    )
    assert "approved by" not in own.what, "a supervisor's own reopening needs no second name"


def test_a_referrals_new_state_and_outcome_are_said() -> None:
    step = _step(
        "referral.status_changed",
        agency="police",
        state="done",
        outcome="not_successful",
        reason="family_refused",
        changed_by="u-officer",
    )
    words = step_in_words(LANG["en"], step, PEOPLE)
    assert words.who == "u-officer", "a person the console does not know is named by their id"
    police, done = LANG["en"].label("agency", "police"), LANG["en"].label("referral_state", "done")
    assert words.what == f"{police}; {done}; Not successful; The family refused"


def test_a_visit_says_what_it_found_and_the_grade_says_why() -> None:
    visited = _step(
        "followup.visit_recorded",
        visitor_ref="u-worker",
        risk_found=False,
        indicators=[],
        needs_unmet=["education"],
    )
    visit = step_in_words(LANG["en"], visited, PEOPLE)
    assert (visit.who, visit.role) == ("li.worker", "Caseworker")
    assert visit.what.startswith("no risk found") and "needs still unmet" in visit.what
    grade = step_in_words(
        LANG["zh_CN"],
        _step(
            "case.assessed",
            risk_level="red",
            overridden=False,
            factors=[{"code": "forcing_immediate_danger"}],
        ),
        PEOPLE,
    )
    assert grade.who is None and grade.what.startswith("红色") and "危险" in grade.what


def test_a_change_of_the_childs_archive_reads_as_a_write_not_a_read() -> None:
    access = {
        "accessor_ref": "u-worker",
        "accessor_role": "caseworker",
        "record": "archive",
        "fields": ["difficulties"],
        "purpose": "assessment",
        "outcome": "shown",
    }
    wrote = step_in_words(LANG["en"], _step("access.recorded", action="update", **access), PEOPLE)
    read = step_in_words(LANG["en"], _step("access.recorded", action="read", **access), PEOPLE)
    assert wrote.event == "Child's data changed" and wrote.what.startswith("Changed")
    assert read.event != wrote.event and read.what.startswith("Read")


def test_an_access_entry_says_who_their_agency_what_why_and_whether_it_was_shown() -> None:
    entry = {
        "accessor_ref": "u-police",
        "accessor_role": "agency_officer",
        "agency": "police",
        "action": "read",
        "record": "child_details",
        "fields": [],
        "purpose": "protection_action",
        "outcome": "refused",
        "refusal": "no_open_referral",
        "accessed_at": WHEN,
    }
    words = entry_in_words(LANG["zh_CN"], entry, {"u-police": Someone("zhao.police", "agency_officer")})
    assert words.who == "zhao.police" and words.role == LANG["zh_CN"].label("role", "agency_officer")
    assert words.what.split("；")[0] == LANG["zh_CN"].label("agency", "police")
    assert all(said in words.what for said in ("保护行动", "被拒绝", "没有未结的转介"))


def test_the_people_of_a_history_are_those_who_acted() -> None:
    steps = [
        _step("case.assigned", assigned_by="u-boss", owner_ref="u-worker"),
        _step("case.reported"),
        {"event_type": "case.closed", "payload": None},
    ]
    assert actors(steps) == {"u-boss"}


def test_the_inbox_asks_for_waiting_referrals_unless_all_are_wanted() -> None:
    assert inbox_query(show="waiting", overdue=False, grade=None, number=None) == {"waiting": "true"}
    assert inbox_query(show="all", overdue=True, grade="red", number="140402-2026-00123") == {
        "overdue": "true",
        "grade": "red",
        "number": "140402-2026-00123",
    }


def test_done_says_how_it_went_and_why_only_when_it_did_not_succeed() -> None:
    successful = {"action": "complete", "outcome": "successful", "reason": "family_refused", "note": " "}
    assert answer_of(successful) == {
        "action": "complete",
        "outcome": "successful",
        "reason": None,
        "note": None,
    }
    assert answer_of(
        {"action": "complete", "outcome": "not_successful", "reason": "family_refused", "note": "母亲拒绝"}
    ) == {"action": "complete", "outcome": "not_successful", "reason": "family_refused", "note": "母亲拒绝"}
    assert answer_of({"action": "decline", "reason": "wrong_agency"})["reason"] == "wrong_agency"
    assert "outcome" not in answer_of({"action": "acknowledge", "note": "收到"})


def test_the_access_logs_period_is_whole_days_in_china_standard_time() -> None:
    child = uuid.uuid4()
    assert access_query(
        {"child_ref": str(child), "territory": "140402", "since": "2026-12-01", "until": "2026-12-05"},
        "u-boss",
    ) == {
        "child_ref": str(child),
        "reader": "u-boss",
        "territory": "140402",
        "since": "2026-12-01T00:00:00+08:00",
        "until": "2026-12-06T00:00:00+08:00",
    }
    for wrong in ({"since": "12/01/2026"}, {"child_ref": "王小红"}):
        with pytest.raises(ValueError):
            access_query(wrong, None)
