"""The help delivered, in a real browser over the real stack, in Chinese and in English: the caseworker
turns the plan into three services (counselling by a contracted social-work organisation, living
assistance by civil affairs, legal aid); the organisation's worker signs in and sees only their
organisation's service, records three sessions and the delivery with its outcome; the caseworker records
the family's feedback; the county's supervisor reads the contract's scorecard — units delivered against
purchased, the share on time, the families' satisfaction."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from services.referral.provision import LOCAL
from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import assignment, hotline_report, token
from tests.e2e.test_console_browser import (  # noqa: F401 - the fixtures
    _on_a_thread,
    _person,
    _subject_of,
    _until,
    add_person,
    browser,
    console,
    nothing_refused_by_the_csp,
    serious_violations,
)

COUNTY, TOWNSHIP, VILLAGE = "140404", "140404102", "140404102201"
SUPERVISOR = token(Role.supervisor, "sup-services-page", jurisdiction=COUNTY)
WORDS = {
    "zh-CN": {
        "plan_service": "安排服务",
        "kind": "服务项目",
        "provider": "承接机构",
        "counselling": "心理辅导",
        "living": "最低生活保障",
        "legal_aid": "法律援助",
        "services_page": "本机构承接的服务",
        "accept": "接受",
        "unit": "记录一次服务",
        "end": "结束服务…",
        "need_met": "需求已满足",
        "record_end": "记录服务结果",
        "delivered": "已完成",
        "satisfaction": "服务对象满意度",
        "satisfied": "满意",
        "record_feedback": "记录满意度",
        "units_table": "购买服务量与完成量",
        "on_time": "到期服务 1 项，按期完成 1 项（100.0%）",
        "mean": "4.0 分（满分5分），1 人评价",
        "of_six": "3 / 6",
        "county": "上党区",
        "download": "下载绩效评估表（XLSX）",
        "child_for_service": "为提供服务查看儿童信息",
        "no_consent": "未获知情同意",
        "complaint": "登记投诉",
        "complaint_kind": "投诉事项",
        "complaint_by": "投诉人",
        "late": "服务不及时",
        "family": "家庭",
        "record_complaint": "登记该投诉",
        "complaint_open": "收到 1 件：属实 0 件，不属实 0 件，待核实 1 件",
        "finding": "核实结果",
        "upheld": "投诉属实",
        "why": "理由说明（必填）",
        "record_finding": "登记核实结果",
        "complaint_upheld": "收到 1 件：属实 1 件，不属实 0 件，待核实 0 件",
    },
    "en-US": {
        "plan_service": "Plan the service",
        "kind": "Service to give",
        "provider": "Provider",
        "counselling": "Psychological counselling",
        "living": "Minimum living allowance",
        "legal_aid": "Legal aid",
        "services_page": "Services for my organisation",
        "accept": "Accept",
        "unit": "Record a unit",
        "end": "End the service…",
        "need_met": "Need met",
        "record_end": "Record how it ended",
        "delivered": "Delivered",
        "satisfaction": "The family's satisfaction",
        "satisfied": "Satisfied",
        "record_feedback": "Record the family's feedback",
        "units_table": "Units delivered against purchased",
        "on_time": "1 of 1 services due (100.0%)",
        "mean": "4.0 of 5 (1 answered)",
        "of_six": "3 of 6",
        "county": "Shangdang District",
        "download": "Download the scorecard (XLSX)",
        "child_for_service": "The child's details for this service",
        "no_consent": "No consent",
        "complaint": "Record a complaint",
        "complaint_kind": "What it is about",
        "complaint_by": "Who complained",
        "late": "Late",
        "family": "The family",
        "record_complaint": "Record the complaint",
        "complaint_open": "1 received: 0 upheld, 0 not upheld, 1 to be looked into",
        "finding": "Finding",
        "upheld": "Upheld",
        "why": "Why, in your words (required)",
        "record_finding": "Record the finding",
        "complaint_upheld": "1 received: 1 upheld, 0 not upheld, 0 to be looked into",
    },
}


async def _planned_case(services: RunningServices, owner: str) -> str:
    """A red report of the village, its case owned by `owner`, its plan naming three needs."""
    from tests.e2e.test_casework import _case

    desk = token(Role.hotline, f"hl-{uuid.uuid4().hex[:8]}", jurisdiction="")
    mine = token(Role.caseworker, owner, jurisdiction=TOWNSHIP)
    async with (
        httpx.AsyncClient(base_url=services.urls["intake"]) as intake,
        httpx.AsyncClient(base_url=services.urls["casework"]) as casework,
        httpx.AsyncClient(base_url=services.urls["assessment"]) as assessment,
    ):
        sent = await intake.post("/v1/reports", json=hotline_report(jurisdiction=VILLAGE), headers=desk)
        assert sent.status_code == 202, sent.text
        reports = (await intake.get("/v1/reports", params={"submitted_by": "me"}, headers=desk)).json()
        case_id = reports[0]["case_id"]
        await _case(casework, case_id, SUPERVISOR)
        named = await casework.post(
            f"/v1/cases/{case_id}/assignment", json=assignment(owner, TOWNSHIP), headers=SUPERVISOR
        )
        assert named.status_code == 200, named.text
        items = [
            {"need": "psychological", "agencies": ["social_work"], "action": "weekly_counselling"},
            {"need": "living", "agencies": ["civil_affairs"], "action": "minimum_living_allowance"},
            {"need": "legal", "agencies": ["legal_aid"], "action": "legal_representation"},
        ]
        plan = await assessment.post(f"/v1/cases/{case_id}/plans", json={"items": items}, headers=mine)
        assert plan.status_code == 201, plan.text
    return case_id


async def _providers(services: RunningServices, reference: str) -> dict[str, str]:
    """The county's three providers (the social-work organisation under a contract of 20 sessions)."""
    bodies = {
        "social_work": {
            "name": f"向日葵社工 {reference}",
            "kind": "social_work_organisation",
            "kinds": ["counselling"],
        },
        "civil_affairs": {
            "name": f"城区民政局 {reference}",
            "kind": "agency_office",
            "agency": "civil_affairs",
            "kinds": ["minimum_living_allowance"],
        },
        "legal": {
            "name": f"城区法律援助中心 {reference}",
            "kind": "legal_organisation",
            "kinds": ["legal_aid"],
        },
    }
    ids = {}
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as referral:
        for key, body in bodies.items():
            made = await referral.post(
                "/v1/providers", json={**body, "territory": COUNTY}, headers=SUPERVISOR
            )
            assert made.status_code == 201, made.text
            ids[key] = made.json()["provider_id"]
        today = datetime.now(LOCAL).date()
        contract = await referral.post(
            f"/v1/providers/{ids['social_work']}/contracts",
            json={
                "reference": reference,
                "territory": COUNTY,
                "starts_on": str(today - timedelta(days=30)),
                "ends_on": str(today + timedelta(days=300)),
                "budget": "80000.00",
                "units": {"counselling": 20},
            },
            headers=SUPERVISOR,
        )
        assert contract.status_code == 201, contract.text
    return ids


def _plan(page: Page, words: dict, kind: str, provider: str, due: str, units: str | None = None) -> None:
    expect(page.locator("label[for=kind]")).to_contain_text(words["kind"])
    page.locator("#kind").select_option(label=words[kind])
    page.locator("#provider_id").select_option(label=f"{provider}（{words[kind]}）")
    page.locator("#due_on").fill(due)
    if units:
        page.locator("#units_planned").fill(units)
    page.get_by_role("button", name=words["plan_service"]).click()
    assert "problem" not in page.url, page.url


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_plan_becomes_three_services_one_delivered_by_its_organisation_and_scored(
    services: RunningServices, console: str, browser: Browser, locale: str, infra, tmp_path
) -> None:
    words = WORDS[locale]
    reference = f"CQ-{uuid.uuid4().hex[:6]}"
    caseworker = add_person(services, "caseworker", TOWNSHIP)
    owner = _on_a_thread(_subject_of(infra.database_url, caseworker))
    case_id = _on_a_thread(_planned_case(services, owner))
    providers = _on_a_thread(_providers(services, reference))
    worker_name = add_person(services, "provider_worker", COUNTY, provider=providers["social_work"])
    boss_name = add_person(services, "supervisor", COUNTY)
    due = str((datetime.now(LOCAL) + timedelta(days=10)).date())

    # The caseworker turns the plan into three services.
    worker = _person(browser, locale, console, caseworker)
    worker.goto(f"{console}/cases/{case_id}")
    _until(worker, lambda: worker.get_by_role("button", name=words["plan_service"]).count() == 1)
    _plan(worker, words, "counselling", f"向日葵社工 {reference}", due, units="6")
    _plan(worker, words, "living", f"城区民政局 {reference}", due)
    _plan(worker, words, "legal_aid", f"城区法律援助中心 {reference}", due)
    services_table = worker.locator("#services-title ~ table")
    for kind in ("counselling", "living", "legal_aid"):
        expect(services_table).to_contain_text(words[kind])
    assert serious_violations(worker) == []
    worker.screenshot(path=str(tmp_path / f"case-services-{locale}.png"), full_page=True)

    # The organisation's worker lands on its services: the counselling alone.
    sw = _person(browser, locale, console, worker_name)
    expect(sw.get_by_role("heading", name=words["services_page"])).to_be_visible()
    rows = sw.get_by_role("row").filter(has_text=words["counselling"])
    expect(rows).to_have_count(1)
    assert words["living"] not in sw.content() and words["legal_aid"] not in sw.content()
    # The child's details are the family's to share: without their consent the organisation is told so.
    sw.get_by_role("button", name=re.compile(words["child_for_service"])).click()
    expect(sw.get_by_role("alert")).to_contain_text(words["no_consent"])
    sw.goto(f"{console}/services")
    sw.get_by_role("button", name=words["accept"]).click()
    for n in range(3):
        day = str((datetime.now(LOCAL) - timedelta(days=2 - n)).date())
        sw.locator("input[name=delivered_on]").fill(day)
        sw.locator("input[name=note][id^=unit-note]").fill(f"session {n + 1}")
        sw.get_by_role("button", name=words["unit"]).click()
        assert "problem" not in sw.url, sw.url
    expect(sw.get_by_role("row").filter(has_text=words["counselling"])).to_contain_text(words["of_six"])
    assert serious_violations(sw) == []
    sw.screenshot(path=str(tmp_path / f"provider-services-{locale}.png"), full_page=True)
    sw.get_by_role("link", name=words["end"]).click()
    sw.get_by_label(re.compile(re.escape(words["need_met"]))).check()
    sw.get_by_role("button", name=words["record_end"]).click()
    expect(sw.get_by_role("heading", name=words["services_page"])).to_be_visible()

    # The caseworker sees it delivered and records the family's feedback.
    worker.goto(f"{console}/cases/{case_id}")
    counselling_row = worker.get_by_role("row").filter(has_text=words["counselling"])
    expect(counselling_row).to_contain_text(words["delivered"])
    counselling_row.get_by_label(words["satisfaction"]).select_option(label=words["satisfied"])
    counselling_row.get_by_role("button", name=words["record_feedback"]).click()
    assert "problem" not in worker.url, worker.url
    # And the family's complaint: the second session came late.
    counselling_row = worker.get_by_role("row").filter(has_text=words["counselling"])
    counselling_row.get_by_text(words["complaint"], exact=True).click()
    counselling_row.get_by_label(words["complaint_kind"]).select_option(label=words["late"])
    counselling_row.get_by_label(words["complaint_by"]).select_option(label=words["family"])
    counselling_row.locator("textarea").fill("第二次辅导没有按约定时间来")
    counselling_row.get_by_role("button", name=words["record_complaint"]).click()
    assert "problem" not in worker.url, worker.url

    # The county's supervisor reads the contract's scorecard.
    boss = _person(browser, locale, console, boss_name)
    boss.goto(f"{console}/providers/{providers['social_work']}")
    scored = boss.get_by_role("table", name=words["units_table"])
    expect(scored.get_by_role("row").filter(has_text=words["counselling"])).to_contain_text("20")
    expect(scored.get_by_role("row").filter(has_text=words["counselling"])).to_contain_text("3")
    expect(boss.locator("main")).to_contain_text(words["on_time"])
    expect(boss.locator("main")).to_contain_text(words["mean"])
    expect(boss.locator("main")).to_contain_text(words["county"])  # the territory served, by its name
    expect(boss.locator("dd.complaints")).to_have_text(words["complaint_open"])
    complaint = boss.locator("#complaints tbody tr").filter(has_text=words["late"])
    complaint.get_by_label(words["finding"]).select_option(label=words["upheld"])
    complaint.get_by_label(words["why"]).fill("约谈机构负责人，调整辅导时间")
    complaint.get_by_role("button", name=words["record_finding"]).click()
    expect(boss.locator("dd.complaints")).to_have_text(words["complaint_upheld"])
    expect(boss.locator("#complaints tbody tr").filter(has_text=words["late"])).to_contain_text(
        words["upheld"]
    )
    assert serious_violations(boss) == []
    boss.screenshot(path=str(tmp_path / f"scorecard-{locale}.png"), full_page=True)

    # The bureau files the scorecard: the spreadsheet opens with the page's figures.
    with boss.expect_download() as downloading:
        boss.get_by_role("link", name=words["download"]).click()
    download = downloading.value
    assert download.suggested_filename.endswith(".xlsx")
    download.save_as(tmp_path / download.suggested_filename)
    sheet = load_workbook(tmp_path / download.suggested_filename).active
    rows = [tuple(cell.value for cell in row) for row in sheet.iter_rows()]
    assert (words["counselling"], 20, 3) in rows


LAWSUIT_WORDS = {
    "zh-CN": {
        "steps": ["提起申请", "法院受理", "开庭审理", "判决"],
        "record": "记录：{step}",
        "transferred": "撤销原监护人资格，另行指定监护人",
        "ask_close": "申请结案，原因",
        "moved_away": "已迁出",
        "ask_close_button": "申请结案",
        "services_open": "仍有救助服务尚未完成",
    },
    "en-US": {
        "steps": ["Application filed", "Accepted by the court", "Hearing", "Judgement"],
        "record": "Record the step: {step}",
        "transferred": "Guardianship transferred",
        "ask_close": "Ask to close the case, because",
        "moved_away": "Moved away",
        "ask_close_button": "Ask to close",
        "services_open": "Services of the plan are still open",
    },
}


async def _lawsuit(services: RunningServices, case_id: str, owner: str, reference: str) -> str:
    """A guardianship-transfer lawsuit planned for the case's legal organisation; the case's referrals
    withdrawn, so that only the lawsuit holds the case open, once casework has heard of it."""
    from tests.e2e.closing import referred_and_heard, withdraw_open_referrals

    mine = token(Role.caseworker, owner, jurisdiction=TOWNSHIP)
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as referral:
        made = await referral.post(
            "/v1/providers",
            json={
                "name": f"律师事务所 {reference}",
                "kind": "legal_organisation",
                "territory": COUNTY,
                "kinds": ["guardianship_transfer_lawsuit"],
            },
            headers=SUPERVISOR,
        )
        due = str((datetime.now(LOCAL) + timedelta(days=120)).date())
        planned = await referral.post(
            f"/v1/cases/{case_id}/services",
            json={
                "kind": "guardianship_transfer_lawsuit",
                "provider_id": made.json()["provider_id"],
                "due_on": due,
            },
            headers=mine,
        )
        assert planned.status_code == 201, planned.text
    await referred_and_heard(services.urls, case_id, mine)
    await withdraw_open_referrals(services.urls, case_id, mine)
    await _heard_by_casework(services.env["CPNET_DATABASE_URL"], planned.json()["service_id"])
    return planned.json()["service_id"]


async def _heard_by_casework(database_url: str, service_id: str) -> None:
    """Until casework keeps the service (it heard service.status): then it refuses a closure for it."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    connection = await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port, database=url.database
    )
    try:
        for _ in range(300):
            if await connection.fetchval(
                "SELECT count(*) FROM casework.services WHERE service_id = $1", uuid.UUID(service_id)
            ):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"casework never heard of service {service_id}")
    finally:
        await connection.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_guardianship_lawsuit_is_recorded_step_by_step_and_the_case_stays_open_meanwhile(
    services: RunningServices, console: str, browser: Browser, locale: str, infra, tmp_path
) -> None:
    words = LAWSUIT_WORDS[locale]
    caseworker = add_person(services, "caseworker", TOWNSHIP)
    owner = _on_a_thread(_subject_of(infra.database_url, caseworker))
    case_id = _on_a_thread(_planned_case(services, owner))
    service_id = _on_a_thread(_lawsuit(services, case_id, owner, f"LS-{uuid.uuid4().hex[:6]}"))

    page = _person(browser, locale, console, caseworker)
    page.goto(f"{console}/cases/{case_id}")
    today = datetime.now(LOCAL).date()
    days = [today - timedelta(days=30), today - timedelta(days=21), today - timedelta(days=7), today]
    for step, day in zip(words["steps"], days, strict=True):
        page.locator(f"#step-on-{service_id}").fill(str(day))
        if step == words["steps"][-1]:
            page.locator(f"#result-{service_id}").select_option(label=words["transferred"])
        page.get_by_role("button", name=words["record"].format(step=step)).click()
        assert "problem" not in page.url, page.url
    recorded = page.locator("ol.steps li")
    expect(recorded).to_have_count(4)
    for item, step in zip(recorded.all(), words["steps"], strict=True):
        expect(item).to_contain_text(step)
    expect(recorded.last).to_contain_text(words["transferred"])
    assert serious_violations(page) == []
    page.locator("section[aria-labelledby=services-title]").screenshot(
        path=str(tmp_path / f"lawsuit-{locale}.png")
    )

    # The judgement does not end the service: the case is not closed while it is open.
    page.get_by_label(words["ask_close"]).select_option(label=words["moved_away"])
    page.get_by_role("button", name=words["ask_close_button"]).click()
    expect(page.get_by_role("alert")).to_contain_text(words["services_open"])


CONSENT_WORDS = {
    "zh-CN": {
        "given_by": "同意人",
        "guardian": "监护人",
        "way": "同意方式",
        "thumbprint": "按手印",
        "education": "教育",
        "organisation": "社会工作服务机构",
        "record": "登记同意",
        "withdraw": "撤回：知情同意",
        "withdrawn_on": "撤回",
        "nobody": "未同意向任何部门或服务机构共享",
        "ground": "共享依据",
        "best_interests": "儿童利益最大化",
        "share": "批准共享",
        "override": "主管批准共享（未经同意）",
        "organisation_now": "现可共享给：社会工作服务机构。",
        "why_missing": "必填",
        "federation": "妇联",
        "shared_three": "现可共享给：教育、妇联、社会工作服务机构。",
        "child_for_action": "为保护行动查看儿童信息",
        "no_consent": "未获知情同意",
    },
    "en-US": {
        "given_by": "Given by",
        "guardian": "Guardian",
        "way": "How it was given",
        "thumbprint": "Thumbprint",
        "education": "Education",
        "organisation": "Social-work organisation",
        "record": "Record the consent",
        "withdraw": "Withdraw: Consent",
        "withdrawn_on": "Withdrawn on",
        "nobody": "Shared with no agency or provider outside the case",
        "ground": "Ground for sharing",
        "best_interests": "The child's best interests",
        "share": "Share without consent",
        "override": "Supervisor's override (no consent)",
        "organisation_now": "Shared now with: Social-work organisation.",
        "why_missing": "required",
        "federation": "Women's federation",
        "shared_three": "Shared now with: Education, Women's federation, Social-work organisation.",
        "child_for_action": "The child's details for our action",
        "no_consent": "No consent",
    },
}


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_consent_is_recorded_withdrawn_and_overridden_on_the_case_page(
    services: RunningServices, console: str, browser: Browser, locale: str, infra, tmp_path
) -> None:
    words = CONSENT_WORDS[locale]
    caseworker = add_person(services, "caseworker", TOWNSHIP)
    supervisor = add_person(services, "supervisor", COUNTY)
    owner = _on_a_thread(_subject_of(infra.database_url, caseworker))
    case_id = _on_a_thread(_planned_case(services, owner))

    federation = add_person(services, "agency_officer", TOWNSHIP, agency="womens_federation")
    number = _on_a_thread(_case_number(services, case_id))

    # The women's federation, referred the case, asks for the child's details: no consent yet.
    officer = _person(browser, locale, console, federation)

    def officer_reads():
        for _ in range(100):  # the referral reaches the inbox shortly after the grade
            officer.goto(f"{console}/inbox")
            row = officer.get_by_role("row").filter(has_text=number)
            if row.count():
                break
            officer.wait_for_timeout(200)
        row.get_by_role("button", name=re.compile(words["child_for_action"])).click()

    officer_reads()
    expect(officer.get_by_role("alert")).to_contain_text(words["no_consent"])
    assert serious_violations(officer) == []
    officer.screenshot(path=str(tmp_path / f"no-consent-{locale}.png"))

    page = _person(browser, locale, console, caseworker)
    page.goto(f"{console}/cases/{case_id}")
    section = page.locator("section[aria-labelledby=consent-title]")
    expect(section.locator("#consent-state")).to_contain_text(words["nobody"])
    give = section.locator("form[aria-labelledby=give-consent-title]")
    give.get_by_label(words["given_by"]).select_option(label=words["guardian"])
    give.get_by_label(words["way"]).select_option(label=words["thumbprint"])
    give.get_by_label(words["education"], exact=True).check()
    give.get_by_label(words["organisation"], exact=True).check()
    give.get_by_label(words["federation"], exact=True).check()
    give.locator("#consent_note").fill("母亲在家访时按手印同意")
    give.get_by_role("button", name=words["record"]).click()
    assert "problem" not in page.url, page.url
    expect(section.locator("#consent-state")).to_have_text(words["shared_three"])
    assert serious_violations(page) == []
    section.screenshot(path=str(tmp_path / f"consent-{locale}.png"))
    officer_reads()  # now the federation reads the child's details
    expect(officer.locator("dl.summary")).to_be_visible()

    # The mother calls to take it back: every agency it named is told, and nothing is shared any more.
    row = section.locator("#consents tbody tr").first
    row.locator("textarea").fill("母亲来电撤回同意")
    row.get_by_role("button", name=words["withdraw"]).click()
    expect(section.locator("#consent-state")).to_contain_text(words["nobody"])
    expect(section.locator("#consents tbody tr").first).to_contain_text(words["withdrawn_on"])
    officer_reads()  # and is refused again
    expect(officer.get_by_role("alert")).to_contain_text(words["no_consent"])

    # The county's supervisor shares with the organisation all the same, and must say why.
    lead = _person(browser, locale, console, supervisor)
    lead.goto(f"{console}/cases/{case_id}")
    section = lead.locator("section[aria-labelledby=consent-title]")
    share = section.locator("form[aria-labelledby=override-consent-title]")
    share.get_by_label(words["ground"]).select_option(label=words["best_interests"])
    share.get_by_label(words["organisation"], exact=True).check()
    share.get_by_role("button", name=words["share"]).click()
    expect(lead.locator("#override_consent_note")).to_have_attribute("aria-invalid", "true")
    share = lead.locator("form[aria-labelledby=override-consent-title]")
    share.get_by_label(words["ground"]).select_option(label=words["best_interests"])
    share.get_by_label(words["organisation"], exact=True).check()
    share.locator("#override_consent_note").fill("监护人长期外出务工联系不上，心理疏导不能再等")
    share.get_by_role("button", name=words["share"]).click()
    assert "problem" not in lead.url, lead.url
    section = lead.locator("section[aria-labelledby=consent-title]")
    expect(section.locator("#consent-state")).to_have_text(words["organisation_now"])
    overriding = section.locator("#consents tbody tr").first
    expect(overriding).to_contain_text(words["override"])
    expect(overriding).to_contain_text(supervisor)  # who recorded it, by name
    assert serious_violations(lead) == []
    section.screenshot(path=str(tmp_path / f"consent-override-{locale}.png"))


ESCALATION_WORDS = {
    "zh-CN": {"link": "逾期上报本级的救助服务", "kind": "法律援助", "climbed": "已上报 2 次，现由上党区负责"},
    "en-US": {
        "link": "Overdue services escalated to us",
        "kind": "Legal aid",
        "climbed": "2 times, now at Shangdang District",
    },
}


async def _case_number(services: RunningServices, case_id: str) -> str:
    async with httpx.AsyncClient(base_url=services.urls["casework"]) as casework:
        case = await casework.get(f"/v1/cases/{case_id}", headers=SUPERVISOR)
    assert case.status_code == 200, case.text
    return case.json()["case_number"]


async def _overdue_legal_aid(services: RunningServices, case_id: str, owner: str, reference: str) -> str:
    """Legal aid for the case, due today (the earliest a person may set), by a legal organisation."""
    mine = token(Role.caseworker, owner, jurisdiction=TOWNSHIP)
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as referral:
        made = await referral.post(
            "/v1/providers",
            json={
                "name": f"法律援助工作站 {reference}",
                "kind": "legal_organisation",
                "territory": COUNTY,
                "kinds": ["legal_aid"],
            },
            headers=SUPERVISOR,
        )
        assert made.status_code == 201, made.text
        body = {
            "kind": "legal_aid",
            "provider_id": made.json()["provider_id"],
            "due_on": str(datetime.now(LOCAL).date()),
        }
        for _ in range(300):  # referral hears the plan's needs with its grade (case.assessed)
            planned = await referral.post(f"/v1/cases/{case_id}/services", json=body, headers=mine)
            if planned.status_code == 201:
                return planned.json()["service_id"]
            await asyncio.sleep(0.1)
    raise AssertionError(planned.text)


async def _left_overdue(database_url: str, service_id: str, *, days: int) -> None:
    """The service as if planned `days` days ago and due the day after, then swept by referral's escalation
    sweep — the code its process runs every minute, on the clock the test hands it — and, as if three
    more days had passed at the township, swept again. The record's days are moved back instead of the
    clock forward: this stack is every test's, and an escalation dated days ahead would be a future date
    on every case the sweep touched."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.referral.deliveries import escalate_overdue_services
    from services.referral.refer import OUTBOX, Resources
    from services.referral.routing import load_routes
    from shared.db.engine import make_session_factory
    from shared.unit_of_work import TableOutbox, UnitOfWork, committed

    engine = create_async_engine(database_url)
    try:
        sessions = make_session_factory(engine)
        async with sessions.begin() as session:
            await session.execute(
                text(
                    "UPDATE referral.services SET created_at = created_at - make_interval(days => :days), "
                    "due_on = (due_on - make_interval(days => :due))::date WHERE id = :id"
                ),
                {"days": days, "due": days - 1, "id": uuid.UUID(service_id)},
            )
        for _ in ("township", "county"):
            async with sessions.begin() as session:  # its time at this level is up
                await session.execute(
                    text(
                        "UPDATE referral.services SET escalate_at = now() - interval '1 minute' "
                        "WHERE id = :id"
                    ),
                    {"id": uuid.UUID(service_id)},
                )
            now = datetime.now(LOCAL)
            resources = Resources(load_routes(), "http://referral", clock=lambda now=now: now)
            while True:  # any other service genuinely overdue goes up too, as the process would take it
                async with committed(sessions.begin, UnitOfWork("referral", TableOutbox(OUTBOX))) as work:
                    if not await escalate_overdue_services(work, resources):
                        break
    finally:
        await engine.dispose()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_service_left_overdue_climbs_to_the_county_supervisors(
    services: RunningServices, console: str, browser: Browser, locale: str, infra, tmp_path
) -> None:
    words = ESCALATION_WORDS[locale]
    caseworker = add_person(services, "caseworker", TOWNSHIP)
    supervisor = add_person(services, "supervisor", COUNTY)
    owner = _on_a_thread(_subject_of(infra.database_url, caseworker))
    case_id = _on_a_thread(_planned_case(services, owner))
    service_id = _on_a_thread(_overdue_legal_aid(services, case_id, owner, f"OD-{uuid.uuid4().hex[:6]}"))

    # Nobody delivers it: the midnight after its due day it climbs to the township, three days on the county.
    _on_a_thread(_left_overdue(infra.database_url, service_id, days=5))

    page = _person(browser, locale, console, supervisor)
    page.get_by_role("link", name=words["link"]).click()
    row = page.locator("#escalated-services tbody tr").filter(has=page.locator(f"a[href='/cases/{case_id}']"))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(words["kind"])
    expect(row).to_contain_text(words["climbed"])
    assert serious_violations(page) == []
    page.screenshot(path=str(tmp_path / f"escalated-{locale}.png"), full_page=True)
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/cases/{case_id}$"))
