"""A joint meeting (联席会议), in a real browser over the real stack, in Chinese and in English: a case whose
social-work referral was declined is on the agenda the record proposes; the county's supervisor records
the meeting and who took part, a decision with what was said, and an action item for education with a day
due; the education officer finds it in the agency's inbox and marks it done, saying what was done; the
case's timeline shows the decision; the minutes download as a PDF that holds the case and the decision."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import pypdfium2
import pytest
from playwright.sync_api import Browser, expect

from services.referral.provision import LOCAL
from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import token
from tests.e2e.test_access_audit import eventually
from tests.e2e.test_console_browser import (  # noqa: F401 - the fixtures
    _on_a_thread,
    _person,
    _subject_of,
    add_person,
    browser,
    console,
    nothing_refused_by_the_csp,
    serious_violations,
)
from tests.e2e.test_console_services import COUNTY, TOWNSHIP, _planned_case

WORDS = {
    "zh-CN": {
        "meetings": "联席会议",
        "education": "教育",
        "social_work": "社会工作",
        "civil_affairs": "民政",
        "record_meeting": "登记会议",
        "declined": "转介被拒绝",
        "decision": "议定结果",
        "said": "会商意见（必填）",
        "record_decision": "登记议定结果",
        "assign": "明确责任部门",
        "department": "责任部门",
        "task": "事项",
        "school": "落实入学（复学）",
        "due": "办结时限",
        "asked": "具体要求（必填）",
        "give": "交办",
        "open": "办理中",
        "done_state": "已办结",
        "what_we_did": "办理情况（必填）",
        "mark_done": "办结",
        "on_timeline": "联席会议议定",
        "minutes": "下载会议纪要（PDF）",
        "minutes_title": "联席会议纪要",
        "what_was_asked": "会议交办要求",
        "back": "返回待办",
    },
    "en-US": {
        "meetings": "Joint meetings",
        "education": "Education",
        "social_work": "Social work",
        "civil_affairs": "Civil affairs",
        "record_meeting": "Record the meeting",
        "declined": "A referral was declined",
        "decision": "Decision",
        "said": "What was said (required)",
        "record_decision": "Record the decision",
        "assign": "A department takes it on",
        "department": "Department",
        "task": "Task",
        "school": "Enrol the child in school",
        "due": "Due on",
        "asked": "What is asked (required)",
        "give": "Give the action item",
        "open": "Open",
        "done_state": "Done",
        "what_we_did": "What we did (required)",
        "mark_done": "Mark done",
        "on_timeline": "Joint meeting decision",
        "minutes": "Download the minutes (PDF)",
        "minutes_title": "Minutes of the joint meeting",
        "what_was_asked": "What was asked of us",
        "back": "Back to the inbox",
    },
}


async def _declined_by_social_work(services: RunningServices, owner: str) -> tuple[str, str]:
    """A red case whose plan asks counselling of social work, and social work declining its referral:
    the case's id and number once the record proposes it for a joint meeting of the county."""
    case_id = await _planned_case(services, owner)
    social_work = token(Role.agency_officer, f"sw-{uuid.uuid4().hex[:6]}", agency="social_work")
    supervisor = token(Role.supervisor, "sup-meetings", jurisdiction=COUNTY)
    async with (
        httpx.AsyncClient(base_url=services.urls["referral"]) as referral,
        httpx.AsyncClient(base_url=services.urls["audit"]) as audit,
    ):
        listed = await eventually(
            lambda: referral.get(
                "/v1/referrals", params={"case_id": case_id, "agency": "social_work"}, headers=supervisor
            ),
            lambda a: a.status_code == 200 and len(a.json()) == 1,
            timeout=60,
        )
        (asked,) = listed.json()
        declined = await referral.post(
            f"/v1/referrals/{asked['referral_id']}/responses",
            json={"action": "decline", "reason": "not_our_duty", "note": "No counsellor is free this month."},
            headers=social_work,
        )
        assert declined.status_code == 200, declined.text
        proposed = await eventually(
            lambda: audit.get(f"/v1/agenda/{COUNTY.ljust(12, '0')}", headers=supervisor),
            lambda a: a.status_code == 200 and any(p["case_id"] == case_id for p in a.json()),
            timeout=60,
        )
    (mine,) = [p for p in proposed.json() if p["case_id"] == case_id]
    assert "referral_declined" in mine["reasons"] and "social_work" in mine["agencies"], mine
    return case_id, mine["case_number"]


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_joint_meeting_decides_on_a_declined_referral_and_education_does_what_it_was_asked(
    infra, services: RunningServices, console: str, browser: Browser, locale: str, tmp_path
) -> None:
    words = WORDS[locale]
    caseworker = add_person(services, "caseworker", TOWNSHIP)
    owner = _on_a_thread(_subject_of(infra.database_url, caseworker))
    case_id, number = _on_a_thread(_declined_by_social_work(services, owner))

    # The county's supervisor records the meeting and who took part.
    boss = _person(browser, locale, console, add_person(services, "supervisor", COUNTY))
    boss.get_by_role("link", name=words["meetings"], exact=True).click()
    for agency in ("education", "social_work", "civil_affairs"):
        boss.get_by_label(words[agency], exact=True).check()
    boss.get_by_role("button", name=words["record_meeting"]).click()
    meeting_url = boss.url
    assert "/meetings/" in meeting_url

    # The agenda holds the case, and why; the meeting decides, saying why.
    row = boss.locator("#agenda tr").filter(has_text=number)
    expect(row).to_contain_text(words["declined"])
    expect(row).to_contain_text(words["social_work"])
    row.get_by_label(words["decision"], exact=True).select_option(label=words["assign"])
    said = f"Education takes it on: enrol the child at the township school ({uuid.uuid4().hex[:6]})."
    row.get_by_label(words["said"]).fill(said)
    row.get_by_role("button", name=words["record_decision"]).click()
    decided = boss.locator("#decisions tr").filter(has_text=number)
    expect(decided).to_contain_text(words["assign"])
    expect(boss.locator("#agenda tr").filter(has_text=number)).to_have_count(0)

    # An action item for education, due in a week.
    due = (datetime.now(LOCAL).date() + timedelta(days=7)).isoformat()
    decided.get_by_label(words["department"]).select_option(label=words["education"])
    decided.get_by_label(words["task"]).select_option(label=words["school"])
    decided.get_by_label(words["due"]).fill(due)
    request = f"Enrol the child before the month's end and tell the caseworker ({uuid.uuid4().hex[:6]})."
    decided.get_by_label(words["asked"]).fill(request)
    decided.get_by_role("button", name=words["give"]).click()
    item = boss.locator("#action-items tr").filter(has_text=number)
    expect(item).to_contain_text(words["education"])
    expect(item).to_contain_text(words["open"])

    # The education officer finds it in the inbox and marks it done.
    officer = _person(
        browser, locale, console, add_person(services, "agency_officer", COUNTY, agency="education")
    )
    asked = officer.locator("#action-items tr").filter(has_text=number)
    expect(asked).to_contain_text(words["school"])
    officer.screenshot(path=str(tmp_path / f"inbox-{locale}.png"), full_page=True)
    asked.get_by_role("button", name=words["what_was_asked"]).click()
    expect(officer.locator("#asked")).to_contain_text(request)
    officer.get_by_role("link", name=words["back"]).click()
    asked = officer.locator("#action-items tr").filter(has_text=number)
    asked.get_by_label(words["what_we_did"]).fill("Enrolled at the township school on Monday.")
    asked.get_by_role("button", name=words["mark_done"]).click()
    expect(officer.locator("#action-items tr").filter(has_text=number)).to_have_count(0)

    boss.goto(meeting_url)
    expect(boss.locator("#action-items tr").filter(has_text=number)).to_contain_text(words["done_state"])
    boss.screenshot(path=str(tmp_path / f"meeting-{locale}.png"), full_page=True)

    # The case's timeline shows the decision (the ledger's, through audit).
    boss.goto(f"{console}/cases/{case_id}")
    for _ in range(50):
        if words["on_timeline"] in boss.locator(".timeline").inner_text():
            break
        boss.wait_for_timeout(300)
        boss.reload()
    expect(boss.locator(".timeline")).to_contain_text(words["on_timeline"])
    expect(boss.locator(".timeline")).to_contain_text(words["assign"])

    # The minutes: a PDF holding the case, its decision and what was said.
    boss.goto(meeting_url)
    with boss.expect_download() as downloading:
        boss.get_by_role("link", name=words["minutes"]).click()
    path = tmp_path / downloading.value.suggested_filename
    downloading.value.save_as(path)
    text = "".join(page.get_textpage().get_text_range() for page in pypdfium2.PdfDocument(path))
    flat = "".join(text.split())
    assert words["minutes_title"].replace(" ", "") in flat
    assert number in flat and "".join(said.split()) in flat and "".join(words["assign"].split()) in flat
    assert serious_violations(boss) == [] and serious_violations(officer) == []


async def _item_left_open(database_url: str, services: RunningServices, case_id: str) -> None:
    """An action item for education given by the county's meeting ten days ago, due the day after and
    left open: swept by referral's escalation sweep (the code its process runs every minute) to the
    township, and — its three days there made up by moving its next climb back, not the clock ahead,
    so that nothing is dated in the future — to the county."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.referral.action_items import escalate_overdue_action_items
    from services.referral.refer import OUTBOX, Resources
    from services.referral.routing import load_routes
    from shared.db.engine import make_session_factory
    from shared.unit_of_work import TableOutbox, UnitOfWork, committed

    supervisor = token(Role.supervisor, "sup-items-climb", jurisdiction=COUNTY)
    today = datetime.now(LOCAL).date()
    async with httpx.AsyncClient(base_url=services.urls["referral"], headers=supervisor) as http:
        meeting = {
            "jurisdiction": COUNTY.ljust(12, "0"),
            "held_on": (today - timedelta(days=10)).isoformat(),
            "present": ["education"],
        }
        made = await http.post("/v1/meetings", json=meeting)
        assert made.status_code == 201, made.text
        meeting_id = made.json()["meeting_id"]
        decision = {"case_id": case_id, "decision": "assign_department", "note": "Education takes it on."}
        assert (await http.post(f"/v1/meetings/{meeting_id}/decisions", json=decision)).status_code < 300
        item = {
            "case_id": case_id,
            "agency": "education",
            "task": "school_enrolment",
            "due_on": (today - timedelta(days=9)).isoformat(),
            "note": "Enrol the child within the day.",
        }
        given = await http.post(f"/v1/meetings/{meeting_id}/action-items", json=item)
        assert given.status_code == 201, given.text
    engine = create_async_engine(database_url)
    try:
        sessions = make_session_factory(engine)
        for _ in ("township", "county"):
            async with sessions.begin() as session:  # its time at this level is up
                await session.execute(
                    text(
                        "UPDATE referral.action_items SET escalate_at = now() - interval '1 minute' "
                        "WHERE id = :id"
                    ),
                    {"id": uuid.UUID(given.json()["action_item_id"])},
                )
            now = datetime.now(LOCAL)
            resources = Resources(load_routes(), "http://referral", clock=lambda now=now: now)
            while True:  # any other item genuinely overdue goes up too, as the process would take it
                async with committed(sessions.begin, UnitOfWork("referral", TableOutbox(OUTBOX))) as work:
                    if not await escalate_overdue_action_items(work, resources):
                        break
    finally:
        await engine.dispose()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_an_action_item_left_open_climbs_to_the_county_supervisors_list_and_the_timeline(
    infra, services: RunningServices, console: str, browser: Browser, locale: str
) -> None:
    zh = locale == "zh-CN"
    words = WORDS[locale]
    caseworker = add_person(services, "caseworker", TOWNSHIP)
    owner = _on_a_thread(_subject_of(infra.database_url, caseworker))
    case_id, number = _on_a_thread(_declined_by_social_work(services, owner))
    _on_a_thread(_item_left_open(infra.database_url, services, case_id))

    boss = _person(browser, locale, console, add_person(services, "supervisor", COUNTY))
    boss.get_by_role(
        "link", name="逾期上报本级的救助服务" if zh else "Overdue services escalated to us"
    ).click()
    items = boss.get_by_role(
        "region", name="逾期上报本级的议定事项" if zh else "Action items escalated to us"
    )
    row = items.get_by_role("row").filter(has_text=number)
    expect(row).to_contain_text(words["education"])
    expect(row).to_contain_text(words["school"])
    expect(row).to_contain_text("已上报 2 次，现由上党区负责" if zh else "2 times, now at Shangdang District")
    assert serious_violations(boss) == []

    row.get_by_role("link", name=number).click()
    climbed = "联席会议议定事项逾期上报" if zh else "Overdue action item escalated"
    for _ in range(50):
        if climbed in boss.locator(".timeline").inner_text():
            break
        boss.wait_for_timeout(300)
        boss.reload()
    expect(boss.locator(".timeline")).to_contain_text(climbed)
    expect(boss.locator(".timeline")).to_contain_text(
        "现由上党区负责" if zh else "now answered for by Shangdang District"
    )
