"""The console in a real browser (Playwright driving Debian's Chromium, headless) over the real
stack, every service and the console as processes: a person signs in — in Chinese or English,
by keyboard alone, on a phone's width — and lands on the page of their work (the hotline operator
the report form and their reports, a caseworker their cases); the board shows a red report as
words, not codes, and the header counts what waits; the language switch keeps the page and its
query; signing out leaves no copy of the board in the tab. axe-core finds no serious or critical
accessibility violation on the pages, and the console's Content-Security-Policy refuses nothing on
any page of any test."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime

import httpx
import py7zr
import pypdfium2
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from services.console.worklist import PAGE_SIZE
from shared.auth import Role
from shared.contracts.vocabulary import CHINA_STANDARD_TIME
from shared.territory.registry import load_territory
from tests.e2e.conftest import RunningServices, serving
from tests.e2e.reports import assignment, hotline_report, token

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser test password 1"


@pytest.fixture(scope="module")
def console(services: RunningServices, tmp_path_factory) -> Iterator[str]:
    with serving(["console"], dict(services.env), tmp_path_factory.mktemp("console-logs")) as urls:
        yield urls["console"]


def add_person(
    services: RunningServices,
    role: str,
    jurisdiction: str,
    agency: str | None = None,
    provider: str | None = None,
) -> str:
    """A person added as an administrator does (`cpnet users add`, password on standard input)."""
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cpnet.cli",
            "users",
            "add",
            username,
            "--role",
            role,
            "--jurisdiction",
            jurisdiction,
            "--password-stdin",
            *(["--agency", agency] if agency else []),
            *(["--provider", provider] if provider else []),
        ],
        input=PASSWORD + "\n",
        text=True,
        env=services.env,
        check=True,
        capture_output=True,
    )
    return username


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


# Each page tells the test what the console's Content-Security-Policy refused (services/console/headers.py).
REPORT_CSP_REFUSALS = """document.addEventListener("securitypolicyviolation", (refusal) => window.cspRefused(
    `${location.pathname}: ${refusal.effectiveDirective} refused ${refusal.blockedURI || "inline code"}`));"""


@pytest.fixture(autouse=True)
def nothing_refused_by_the_csp(browser: Browser, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every browser context a test opens is watched: a script, style or anything else the console's
    CSP refuses on any of its pages fails the test."""
    refused: list[str] = []
    new_context = browser.new_context

    def note(refusal: str) -> None:
        refused.append(refusal)

    def watched(**options) -> BrowserContext:
        context = new_context(**options)
        context.expose_function("cspRefused", note)
        context.add_init_script(REPORT_CSP_REFUSALS)
        return context

    monkeypatch.setattr(browser, "new_context", watched)
    yield
    assert refused == [], "the console's Content-Security-Policy refused: " + "; ".join(refused)


def sign_in(page: Page, console: str, username: str, *, button: str) -> None:
    page.goto(console + "/")
    page.get_by_label("用户名" if button == "登录" else "Username").fill(username)
    page.get_by_label("密码" if button == "登录" else "Password").fill(PASSWORD)
    page.get_by_role("button", name=button).click()


def serious_violations(page: Page) -> list[str]:
    found = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['help']}" for v in found if v["impact"] in ("serious", "critical")]


def report_in_the_form(
    page: Page,
    console: str,
    *,
    categories: list[str],
    village: str = "城区 › 东街街道 › 府后社区",
    narrative: str = "邻居听到孩子呼救。",
    phone: str | None = None,
) -> None:
    """A hotline operator's red report, in the Chinese form: a neighbour heard a child screaming."""
    page.goto(console + "/report")
    page.get_by_label("来源渠道").select_option(label="热线")
    page.get_by_label("报告人身份").select_option(label="邻居")
    if phone:
        page.get_by_label("报告人电话", exact=True).fill(phone)
    page.get_by_label("儿童姓名").fill("王小红")
    page.get_by_label("性别").select_option(label="女")
    page.get_by_label("估计年龄（岁）").fill("9")
    page.get_by_label("村（社区）").select_option(label=village)
    for category in categories:
        page.get_by_label(category).check()
    page.get_by_label("面临紧急危险").check()
    page.get_by_label("情况描述").fill(narrative)
    page.get_by_role("button", name="提交报告").click()


def test_the_operators_red_report_is_on_the_supervisors_board_in_red_words(
    services: RunningServices, console: str, browser: Browser
) -> None:
    operator = add_person(services, "hotline", "")
    supervisor = add_person(services, "supervisor", "140402")
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, console, operator, button="登录")
    # The hotline operator's first page is the report form, with their own reports under it.
    expect(page.get_by_role("heading", name="新建报告")).to_be_visible()
    assert page.url.endswith("/report"), page.url
    expect(page.get_by_role("heading", name="我提交的报告")).to_be_visible()
    expect(page.get_by_text("您还没有提交过报告。")).to_be_visible()
    assert page.get_by_role("link", name="工作台").count() == 0, "no link to a page the hotline cannot open"
    report_in_the_form(
        page, console, categories=[]
    )  # no kind of difficulty: intake refuses it, field by field
    expect(page.get_by_role("alert")).to_contain_text("困境类别")
    expect(page.get_by_role("alert")).to_contain_text("此项必填。")
    assert page.get_by_label("儿童姓名").input_value() == "王小红", "what was typed is kept"
    assert serious_violations(page) == []
    report_in_the_form(page, console, categories=["遭受侵害"])
    expect(page.get_by_role("heading", name="报告已收到")).to_be_visible()
    assert serious_violations(page) == []
    # Back on the form, the report is listed with its case's number and state.
    page.get_by_role("link", name="新建报告").click()
    mine = page.get_by_role("row").filter(has_text="办理中")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text(re.compile(r"\d{6}-\d{4}-\d{5,9}"))
    assert serious_violations(page) == []
    page.get_by_role("button", name="退出登录").click()
    context.close()

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(console + "/")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    assert serious_violations(page) == []
    sign_in(page, console, supervisor, button="登录")
    expect(page.get_by_role("heading", name="工作台")).to_be_visible()
    # The case reaches casework a moment after the report: the board shows it once it is graded.
    for _ in range(50):
        if page.get_by_role("row").filter(has_text="红色（高风险）").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    rows = page.get_by_role("row").filter(has_text="红色（高风险）")
    expect(rows.first).to_be_visible()
    expect(rows.first).to_contain_text("遭受侵害")  # the category as words
    shown = page.inner_text("body")
    assert "abuse" not in shown and "red" not in shown, "codes are never shown"
    assert serious_violations(page) == []
    # The header counts what waits: the new red case, not reviewed yet, leads to the list of them.
    waiting = page.get_by_role("navigation", name="待我处理")
    new_red = waiting.get_by_role("link", name=re.compile(r"待审核的红色个案 [1-9]\d*"))
    expect(new_red).to_be_visible()
    expect(waiting.get_by_role("link", name=re.compile(r"待我审批 \d+"))).to_be_visible()
    expect(waiting.get_by_role("link", name=re.compile(r"已逾期 \d+"))).to_be_visible()
    new_red.click()
    expect(page).to_have_url(re.compile(r"/board\?grade=red&reviewed=false$"))
    expect(page.get_by_role("row").filter(has_text="红色（高风险）").first).to_be_visible()
    assert page.get_by_role("row").filter(has_text="蓝色").count() == 0
    assert serious_violations(page) == []
    # A worklist chosen (htmx swaps the cases alone), then the language: the worklist stays.
    page.get_by_role("link", name="未分配").click()
    expect(page).to_have_url(re.compile(r"/board\?owner=unassigned$"))
    # Back, and forward again: htmx keeps no copy of the board, so it asks the server each time.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/board\?grade=red&reviewed=false$"))
    expect(page.get_by_role("row").filter(has_text="红色（高风险）").first).to_be_visible()
    page.go_forward()
    expect(page).to_have_url(re.compile(r"/board\?owner=unassigned$"))
    expect(page.get_by_role("link", name="未分配")).to_have_attribute("aria-current", "page")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Board")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/board\?owner=unassigned$"))
    expect(page.get_by_role("link", name="Unassigned")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("row").filter(has_text="Red (high risk)").first).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('htmx-history-cache')") is None, "no board left in the tab"
    context.close()


def test_a_caseworker_signs_in_by_keyboard_alone_on_a_phone(
    services: RunningServices, console: str, browser: Browser
) -> None:
    caseworker = add_person(services, "caseworker", "140402")
    context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(console + "/?owner=me")
    page.keyboard.press("Tab")  # the skip link first
    expect(page.get_by_role("link", name="Skip to the page's content")).to_be_focused()
    page.get_by_label("Username").focus()
    page.keyboard.type(caseworker)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Board")).to_be_visible()
    assert page.url.endswith("/board?owner=me"), "back where the person was going (the board's address now)"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing wider than the phone"
    assert serious_violations(page) == []
    context.close()


def test_a_wrong_password_is_shown_on_the_form(
    services: RunningServices, console: str, browser: Browser
) -> None:
    caseworker = add_person(services, "caseworker", "140402")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(console + "/")
    page.get_by_label("Username").fill(caseworker)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The username or password is wrong. After several wrong "
        "passwords an account waits up to a minute before it "
        "takes another."
    )
    assert serious_violations(page) == []
    context.close()


CHILD_TITLES = re.compile("儿童信息|The child's details")  # the child's page, in Chinese or English
WORDS = {
    "zh-CN": {
        "sign_in": "登录",
        "sign_out": "退出登录",
        "red": "红色（高风险）",
        "board": "工作台",
        "caseworker": "儿童督导员",
        "assign": "分配",
        "screen_in": "受理：进入需求评估",
        "record_review": "记录审核结果",
        "acknowledge": "确认接收",
        "record_visit": "记录跟踪回访",
        "my_cases": "我的个案",
        "not_found": "未找到",
        "purpose": "查阅目的（将被记录）",
        "assessment": "评估",
        "show_child": "查看儿童信息",
        "open_archive": "打开信息档案",
        "difficulties": "困难",
        "save_archive": "保存档案",
        "record_home_visit": "记录入户调查",
        "education": "教育",
        "record_plan_summary": "记录帮扶方案",
        "the_need": "需求",
        "what_is_done": "帮扶措施",
        "back_to_school": "返校复学",
        "plan_stage": "帮扶方案",
        "ask_close": "申请结案，原因",
        "risk_resolved": "风险已消除",
        "ask_close_button": "申请结案",
        "still_open": "仍有转介尚未办结",
        "withdraw": "撤回对",
        "withdraw_why": "撤回原因",
        "no_longer_needed": "不再需要",
        "pending": "待审批",
        "approve": "批准",
        "closed": "已结案",
        "set_grade": "调整等级",
        "orange": "橙色（中风险）",
        "why": "调整原因",
        "new_information": "有新情况",
        "national_id": "身份证号",
        "search": "查询",
        "search_purpose": "查询目的",
        "check": "请检查填写的内容",
        "no_match": "您辖区内没有相符的儿童",
        "case_number": "个案编号",
        "show": "显示",
        "one_found": "共找到转介 1 条",
        "nine_years": "9 岁",
        "girl": "女",
        "village": "西大街社区",
        "in_danger": "面临紧急危险",
        "child_for_action": "为保护行动查看儿童信息",
        "protection_action": "保护行动",
        "note": "备注（选填）",
        "acknowledged": "已接收",
        "decline": "退回…",
        "decline_really": "确定退回这条转介吗？",
        "why_declined": "退回原因",
        "not_decline": "不，返回转介列表",
        "as_supervisor": "（审核人）",
        "as_caseworker": "（儿童督导员）",
        "accepted": "受理",
        "archive_changed": "修改儿童信息",
        "who_read": "儿童信息查阅记录",
        "who_read_child": "谁查阅过这名儿童的信息",
        "child_details": "儿童信息",
        "steps": ["收到报告", "风险分级", "分配负责人", "书面审核", "转介", "转介状态变化", "跟踪回访"],
        "languages": ["English", "中文"],
    },
    "en-US": {
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "red": "Red (high risk)",
        "board": "Board",
        "caseworker": "Caseworker",
        "assign": "Assign",
        "screen_in": "Screen in: on to needs assessment",
        "record_review": "Record the review",
        "acknowledge": "Acknowledge",
        "record_visit": "Record the visit",
        "my_cases": "My cases",
        "not_found": "Not found",
        "purpose": "Why you read them (recorded)",
        "assessment": "Assessment",
        "show_child": "Show the child's details",
        "open_archive": "Open the information archive",
        "difficulties": "Difficulties",
        "save_archive": "Save the archive",
        "record_home_visit": "Record a home visit",
        "education": "Education",
        "record_plan_summary": "Record the assistance plan",
        "the_need": "The need",
        "what_is_done": "What is to be done",
        "back_to_school": "Back to school",
        "plan_stage": "Assistance plan",
        "ask_close": "Ask to close the case, because",
        "risk_resolved": "Risk resolved",
        "ask_close_button": "Ask to close",
        "still_open": "Referrals are still open",
        "withdraw": "Withdraw the referral to",
        "withdraw_why": "Why it is withdrawn",
        "no_longer_needed": "No longer needed",
        "pending": "Pending approval",
        "approve": "Approve",
        "closed": "Closed",
        "set_grade": "Set the grade",
        "orange": "Orange (medium risk)",
        "why": "Why the grade changes",
        "new_information": "New information",
        "national_id": "National ID number",
        "search": "Search",
        "search_purpose": "Purpose",
        "check": "Check what was filled in",
        "no_match": "No child in your territory matches",
        "case_number": "Case number",
        "show": "Show",
        "one_found": "Referrals found: 1",
        "nine_years": "9 years old",
        "girl": "Female",
        "village": "Xidajie",
        "in_danger": "In immediate danger",
        "child_for_action": "The child's details for our action",
        "protection_action": "Protection action",
        "note": "Note (optional)",
        "acknowledged": "Acknowledged",
        "decline": "Decline…",
        "decline_really": "Decline this referral?",
        "why_declined": "Why it is declined",
        "not_decline": "No, back to the inbox",
        "as_supervisor": " (Supervisor)",
        "as_caseworker": " (Caseworker)",
        "accepted": "Accepted for handling",
        "archive_changed": "Child's data changed",
        "who_read": "Who read children's data",
        "who_read_child": "Who read this child's data",
        "child_details": "the child's details",
        "steps": [
            "Reported",
            "Graded",
            "Owner assigned",
            "Written review",
            "Referred",
            "Referral state changed",
            "Visit recorded",
        ],
        "languages": ["中文", "English"],
    },
}
# A township of its own, so the journey's case is the one new row on its supervisor's board.
TOWNSHIP, VILLAGE_ZH = "140402002", "城区 › 西街街道 › 西大街社区"


def _person(browser: Browser, locale: str, console: str, username: str) -> Page:
    page = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900}).new_page()
    page.goto(console + "/")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name=WORDS[locale]["sign_in"]).click()
    return page


def _until(page: Page, ready, *, tries: int = 75) -> None:
    """Reload until the page shows what the pipeline has done by then (events take a moment)."""
    for _ in range(tries):
        if ready():
            return
        page.wait_for_timeout(200)
        page.reload()
    assert ready(), page.content()[:2000]


def _case_links(page: Page) -> set[str]:
    return {link.get_attribute("href") for link in page.locator("a[href^='/cases/']").all()}


def _sees_who_read_the_child(
    auditor: Page, case_link: str, words: dict, *, police: str, caseworker: str
) -> None:
    """From the case, who read this child's data: the police for their action, the caseworker for the
    assessment."""
    auditor.goto(case_link)
    auditor.get_by_role("link", name=words["who_read_child"]).click()
    expect(auditor).to_have_url(re.compile(r"/access\?child_ref="))
    reads = auditor.get_by_role("row").filter(has_text=police).filter(has_text=words["protection_action"])
    expect(reads.first).to_contain_text(words["child_details"])
    expect(
        auditor.get_by_role("row").filter(has_text=caseworker).filter(has_text=words["assessment"]).first
    ).to_be_visible()
    assert serious_violations(auditor) == []


def _asks_to_close_withdrawing_each_referral(worker: Page, words: dict) -> None:
    """The caseworker asks to close the case: refused while agencies hold referrals, named in words; each
    withdrawn with a reason (the table then says why), the request is made."""
    worker.get_by_label(words["ask_close"]).select_option(label=words["risk_resolved"])
    worker.get_by_role("button", name=words["ask_close_button"]).click()
    expect(worker.get_by_role("alert")).to_contain_text(words["still_open"])
    withdraw = worker.get_by_role("button", name=words["withdraw"])
    assert withdraw.count() >= 1, "each open referral can be withdrawn"
    while withdraw.count():
        row = worker.get_by_role("row").filter(has=withdraw).first
        row.get_by_label(words["withdraw_why"]).select_option(label=words["no_longer_needed"])
        withdraw.first.click()
        assert "problem" not in worker.url, worker.url
    assert worker.locator("#referrals-title ~ table").inner_text().count(words["no_longer_needed"]) >= 1
    assert serious_violations(worker) == []
    for _ in range(50):  # casework hears of the withdrawals a moment after referral makes them
        worker.get_by_label(words["ask_close"]).select_option(label=words["risk_resolved"])
        worker.get_by_role("button", name=words["ask_close_button"]).click()
        if words["still_open"] not in worker.content():
            break
        worker.wait_for_timeout(200)


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_journey_from_a_red_report_to_a_visit_on_the_timeline(
    services: RunningServices, console: str, browser: Browser, locale: str
) -> None:
    words = WORDS[locale]
    operator = add_person(services, "hotline", "")
    supervisor = add_person(services, "supervisor", TOWNSHIP)
    caseworker = add_person(services, "caseworker", TOWNSHIP)
    police = add_person(services, "agency_officer", TOWNSHIP, agency="police")
    boss = _person(browser, locale, console, supervisor)
    before = _case_links(boss)

    # The hotline operator takes the call and submits a red report.
    desk = _person(browser, "zh-CN", console, operator)
    report_in_the_form(desk, console, categories=["遭受侵害"], village=VILLAGE_ZH)
    expect(desk.get_by_role("heading", name="报告已收到")).to_be_visible()

    # It is on the supervisor's board, in red words; the supervisor opens it and names its caseworker.
    _until(boss, lambda: _case_links(boss) - before)
    (link,) = _case_links(boss) - before
    row = boss.get_by_role("row").filter(has=boss.locator(f"a[href='{link}']"))
    expect(row).to_contain_text(words["red"])
    # The board as its filters select it, to take away: a CSV that Excel opens in Chinese, codes as words.
    zh = locale == "zh-CN"
    with boss.expect_download() as download:
        exports = boss.get_by_role("navigation", name="导出列表" if zh else "Take the list away")
        exports.get_by_role("link", name="下载CSV" if zh else "Download CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    saved = download.value.path().read_bytes()
    assert saved.startswith("\ufeff个案编号,".encode() if zh else "\ufeffCase number,".encode())
    written = saved.decode("utf-8-sig")
    assert words["red"] in written and ",red," not in written, "the grade in words, never its code"
    boss.locator(f"a[href='{link}']").click()
    # The case's number (个案编号) heads its page: what the agency's people see it by.
    heading, numbered = boss.get_by_role("heading", level=1), re.compile(r"\d{6}-\d{4}-\d{5,9}")
    expect(heading).to_contain_text(numbered)
    case_number = numbered.search(heading.inner_text()).group()
    boss.get_by_label(words["caseworker"]).select_option(label=caseworker)
    boss.get_by_role("button", name=words["assign"]).click()
    expect(boss.locator("dl.summary")).to_contain_text(caseworker)
    assert serious_violations(boss) == []

    # The caseworker lands on theirs, finds it there and screens it in.
    worker = _person(browser, locale, console, caseworker)
    expect(worker).to_have_url(re.compile(r"/board\?owner=me$"))
    expect(worker.get_by_role("link", name=words["my_cases"], exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    worker.locator(f"a[href='{link}']").click()
    worker.get_by_label(words["screen_in"]).check()
    worker.get_by_role("button", name=words["record_review"]).click()
    expect(worker.get_by_role("button", name=words["record_review"])).to_have_count(0)
    # The child's details only once a purpose is named (the read is on the ledger with it).
    worker.get_by_label(words["purpose"]).select_option(label=words["assessment"])
    worker.get_by_role("button", name=words["show_child"]).click()
    expect(worker.get_by_role("status")).to_contain_text(words["assessment"])
    expect(worker.locator("dl.summary")).to_contain_text("王小红")
    assert serious_violations(worker) == []
    # The other language, and back: the same child's page — which asks why again, in that language, and
    # shows nothing of the child until the reader chooses (no address carries a purpose, issue 20).
    for language in words["languages"]:
        worker.get_by_role("button", name=language).click()
        expect(worker).to_have_url(re.compile(r"/child$"))
        expect(worker.get_by_role("heading", level=1)).to_contain_text(CHILD_TITLES)  # in either language
        expect(worker.get_by_role("combobox")).to_have_value("")  # the purpose, not chosen for them
        assert "王小红" not in worker.content()
    worker.get_by_label(words["purpose"]).select_option(label=words["assessment"])
    worker.get_by_role("button", name=words["show_child"]).click()
    expect(worker.locator("dl.summary")).to_contain_text("王小红")
    # The needs assessment: a home visit that finds a need, then the assistance plan for it.
    worker.goto(console + link)
    home_visit = worker.locator("form[action$='/home-visits']")
    worker.get_by_text(words["record_home_visit"], exact=True).first.click()
    home_visit.get_by_label(words["education"]).check()
    home_visit.get_by_role("button").click()
    assert "problem" not in worker.url, worker.url
    expect(worker.locator("#grade-title ~ p").first).to_contain_text(words["education"])
    plan = worker.locator("form[action$='/plans']")
    worker.get_by_text(words["record_plan_summary"], exact=True).click()
    plan.get_by_label(words["the_need"]).select_option(label=words["education"])
    plan.get_by_label(words["what_is_done"]).select_option(label=words["back_to_school"])
    plan.get_by_label(words["education"]).check()
    plan.get_by_role("button").click()
    assert "problem" not in worker.url, worker.url
    _until(worker, lambda: words["plan_stage"] in worker.locator("dl.summary").inner_text())
    assert serious_violations(worker) == []

    # The child's information archive, with a purpose too: written, saved, read back.
    worker.goto(console + link)
    worker.get_by_label(words["purpose"]).select_option(label=words["assessment"])
    worker.get_by_role("button", name=words["open_archive"]).click()
    worker.get_by_label(words["difficulties"]).fill("父母外出务工，祖母年迈。")
    worker.get_by_role("button", name=words["save_archive"]).click()
    expect(worker.get_by_label(words["difficulties"])).to_have_value("父母外出务工，祖母年迈。")
    assert "problem" not in worker.url and serious_violations(worker) == []

    # The police officer finds the referral in the agency's inbox by its case number: the child's age,
    # sex and village, what the police are asked to do; the child's details one click away, for the
    # agency's action; acknowledged with a note.
    officer = _person(browser, locale, console, police)
    _until(officer, lambda: officer.get_by_role("row").filter(has_text=case_number).count() == 1)
    officer.get_by_label(words["case_number"]).fill(case_number)
    officer.get_by_role("button", name=words["show"], exact=True).click()
    expect(officer.get_by_role("status")).to_contain_text(words["one_found"])
    row = officer.get_by_role("row").filter(has_text=case_number)
    expect(row).to_contain_text(words["nine_years"])
    expect(row).to_contain_text(words["girl"])
    expect(row).to_contain_text(words["village"])
    expect(row).to_contain_text(words["in_danger"])
    assert serious_violations(officer) == []
    row.get_by_role("button", name=re.compile(words["child_for_action"])).click()
    expect(officer.get_by_role("status")).to_contain_text(words["protection_action"])
    expect(officer.locator("dl.summary")).to_contain_text("王小红")
    officer.go_back()
    row = officer.get_by_role("row").filter(has_text=case_number)
    row.get_by_label(words["note"]).fill("已派民警上门核实。")
    row.get_by_role("button", name=words["acknowledge"]).click()
    assert "problem" not in officer.url, officer.url
    row = officer.get_by_role("row").filter(has_text=case_number)
    expect(row.get_by_role("button", name=words["acknowledge"])).to_have_count(0)
    expect(row).to_contain_text(words["acknowledged"])
    # Declining asks first; the officer thinks again and the referral stays.
    row.get_by_role("link", name=words["decline"]).click()
    expect(officer.get_by_role("heading", level=1)).to_have_text(words["decline_really"])
    expect(officer.get_by_label(words["why_declined"])).to_be_visible()
    assert serious_violations(officer) == []
    officer.get_by_role("link", name=words["not_decline"]).click()
    expect(officer.get_by_role("row").filter(has_text=case_number)).to_contain_text(words["acknowledged"])
    assert serious_violations(officer) == []

    # The caseworker records a visit; the timeline shows every step.
    worker.goto(console + link)
    worker.get_by_role("button", name=words["record_visit"]).click()
    _until(worker, lambda: all(step in worker.locator("ol.timeline").inner_text() for step in words["steps"]))
    assert worker.locator("ol.timeline").inner_text().count(words["steps"][2]) >= 2, (
        "the station, then the caseworker"
    )
    # Who did what, and what was decided: the supervisor's assignment, the caseworker's review (accepted),
    # the police's acknowledgement, the archive's change as a write.
    history = worker.locator("ol.timeline").inner_text()
    assert f"{supervisor}{words['as_supervisor']}" in history, history
    assert words["accepted"] in history and f"{caseworker}{words['as_caseworker']}" in history, history
    assert police in history and words["archive_changed"] in history, history
    assert serious_violations(worker) == []

    # The auditor lands on who read children's data; from the case, who read this child's: the
    # caseworker for the assessment, the police for their action.
    auditor = _person(browser, locale, console, add_person(services, "auditor", ""))
    expect(auditor).to_have_url(re.compile(r"/access$"))
    expect(auditor.get_by_role("heading", level=1)).to_have_text(words["who_read"])
    assert serious_violations(auditor) == []
    _sees_who_read_the_child(auditor, console + link, words, police=police, caseworker=caseworker)

    # A supervisor may set a grade with a reason, but not below red for a child in immediate danger:
    # the refusal comes back in words and the grade stays red.
    boss.goto(console + link)
    boss.get_by_label(words["set_grade"]).select_option(label=words["orange"])
    boss.get_by_label(words["why"]).select_option(label=words["new_information"])
    boss.get_by_role("button", name=words["set_grade"]).click()
    expect(boss.get_by_role("alert")).to_contain_text(words["check"])
    expect(boss.get_by_role("heading", level=1)).to_contain_text(words["red"])

    # Later the caseworker asks to close it: refused while agencies hold referrals, until each is
    # withdrawn with a reason; then the supervisor approves from the pending requests.
    _asks_to_close_withdrawing_each_referral(worker, words)
    expect(worker.locator("#requests-title + ul")).to_contain_text(words["risk_resolved"])
    boss.get_by_role("link", name=words["pending"]).first.click()
    row = boss.get_by_role("row").filter(has_text=case_number)  # the request names the case by its number
    row.get_by_role("button", name=words["approve"]).click()
    expect(boss.get_by_role("row").filter(has_text=case_number)).to_have_count(0)
    assert serious_violations(boss) == []
    worker.reload()
    expect(worker.locator("dl.summary")).to_contain_text(words["closed"])

    # Another county's supervisor asking for the case's page gets a page that does not exist.
    elsewhere = _person(browser, locale, console, add_person(services, "supervisor", "140403"))
    answer = elsewhere.goto(console + link)
    assert answer.status == 404
    expect(elsewhere.get_by_role("heading", name=words["not_found"])).to_be_visible()
    assert elsewhere.locator("dl.summary").count() == 0, "nothing of the case is shown"
    assert serious_violations(elsewhere) == []
    assert elsewhere.goto(console + link + "/child?purpose=assessment").status == 404
    assert "王小红" not in elsewhere.content()
    # The search before a report: an ID number nobody in the territory has finds nothing, and says so.
    worker.goto(console + "/children/search")
    worker.get_by_label(words["search_purpose"]).select_option(label=words["assessment"])
    worker.get_by_label(words["national_id"], exact=True).fill("11010120100101001X")
    worker.get_by_role("button", name=words["search"]).click()
    expect(worker.get_by_role("status")).to_contain_text(words["no_match"])
    assert serious_violations(worker) == []


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_city_director_reads_the_territory_dashboard(
    services: RunningServices, console: str, browser: Browser, locale: str
) -> None:
    zh = locale == "zh-CN"
    page = _person(browser, locale, console, add_person(services, "supervisor", "1404"))
    expect(page).to_have_url(re.compile(r"/dashboard$"))  # a city's supervisor lands on its numbers
    page.get_by_role("link", name="辖区概况" if zh else "Territory dashboard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("辖区概况" if zh else "Territory dashboard")
    expect(
        page.get_by_role("img", name="每周新增和结案数" if zh else "New and closed cases per week")
    ).to_be_visible()
    # The module's earlier tests reported abuse in the city's Chengqu district: counted by county.
    row = page.get_by_role("row").filter(has_text="遭受侵害" if zh else "Violence or abuse").first
    expect(row).to_contain_text("城区" if zh else "Chengqu District")
    weeks = page.locator("#weeks-title ~ table tbody tr")
    expect(weeks).to_have_count(8)
    assert int(weeks.last.locator("td").nth(1).inner_text()) >= 1, "this week's new cases"
    assert serious_violations(page) == []

    # The dashboard's month picker opens that month's bulletin: the same reports counted by county,
    # and its files to download.
    expect(page.get_by_role("link", name="定期通报" if zh else "Periodic bulletins")).to_be_visible()
    month = datetime.now(CHINA_STANDARD_TIME).strftime("%Y-%m")
    page.get_by_label("月度统计" if zh else "A month's figures").fill(month)
    page.get_by_role("button", name="查看通报" if zh else "Show the bulletin").click()
    expect(page.get_by_label("月份" if zh else "Month")).to_have_value(month)
    expect(page.get_by_role("heading", level=2)).to_contain_text(
        "长治市未成年人保护工作定期通报" if zh else "Periodic bulletin on child protection: Changzhi"
    )
    channels = page.get_by_role("table", name="报告来源" if zh else "Reports by channel")
    header = [h.inner_text() for h in channels.locator("thead th").all()]
    hotline = channels.get_by_role("row").filter(has_text="热线" if zh else "Hotline").first
    chengqu = hotline.locator("td").nth(header.index("城区" if zh else "Chengqu District") - 1).inner_text()
    assert chengqu == "<5" or int(chengqu) >= 1, "the module's reports in Chengqu"
    # A click on a county drills down: its own bulletin, its townships for columns.
    channels.get_by_role("link", name="城区" if zh else "Chengqu District", exact=True).click()
    expect(page.get_by_role("heading", level=2)).to_contain_text(
        "长治市城区未成年人保护工作定期通报" if zh else "Chengqu District, Changzhi"
    )
    expect(page.get_by_role("table", name="报告来源" if zh else "Reports by channel")).to_contain_text(
        "东街街道" if zh else "Dongjie Subdistrict"
    )
    for kind in ("xlsx", "pdf"):
        with page.expect_download() as download:
            page.locator(f"a[href$='.{kind}']").click()
        assert download.value.suggested_filename.endswith(f"-{'zh-CN' if zh else 'en'}.{kind}")
        saved = download.value.path().read_bytes()
        assert saved.startswith(b"PK" if kind == "xlsx" else b"%PDF")
    assert serious_violations(page) == []


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_changed_pages_at_a_phones_width(
    services: RunningServices, console: str, browser: Browser, locale: str
) -> None:
    """The report form with the person's reports, the board with the header's counts, a case's page,
    the page that is not found, the agency's inbox and its confirmation, and who read children's data:
    nothing wider than the phone, nothing axe-core finds serious."""
    zh = locale == "zh-CN"

    def phone(username: str) -> Page:
        page = browser.new_context(locale=locale, viewport={"width": 390, "height": 844}).new_page()
        sign_in(page, console, username, button="登录" if zh else "Sign in")
        return page

    named: list[int] = []

    def fits(page: Page) -> None:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, page.url
        assert serious_violations(page) == [], page.url
        # The tables stack and hide their header rows: every cell says its column's name before its value.
        cells = page.evaluate(_CELLS_AND_THEIR_NAMES)
        assert [c for c in cells if c["header"] and c["header"] not in c["shown"]] == [], page.url
        named.append(sum(1 for c in cells if c["header"]))

    desk = phone(add_person(services, "hotline", ""))
    expect(desk.get_by_role("heading", name="我提交的报告" if zh else "My reports")).to_be_visible()
    fits(desk)
    boss = phone(add_person(services, "supervisor", "140402"))
    expect(
        boss.get_by_role("navigation", name="待我处理" if zh else "What waits for me")
        .get_by_role("link")
        .first
    ).to_be_visible()
    fits(boss)
    numbered = re.compile(r"\d{6}-\d{4}-\d{5,9}")  # a case of a report (some tests' cases are events alone)
    boss.get_by_role("row").filter(has_text=numbered).first.locator("a[href^='/cases/']").first.click()
    expect(boss.get_by_role("heading", level=1)).to_contain_text(numbered)
    fits(boss)
    assert boss.goto(f"{console}/cases/{uuid.uuid4()}").status == 404
    fits(boss)
    # The agency's inbox and its page that asks before declining (the module's earlier reports referred
    # children of this county to the police), and who read children's data.
    officer = phone(add_person(services, "agency_officer", "140402", agency="police"))
    heading = officer.get_by_role("heading", level=1)
    expect(heading).to_have_text("转介给本部门的案件" if zh else "Referrals to my agency")
    fits(officer)
    officer.get_by_role("link", name="退回…" if zh else "Decline…").first.click()
    expect(heading).to_have_text("确定退回这条转介吗？" if zh else "Decline this referral?")
    fits(officer)
    auditor = phone(add_person(services, "auditor", ""))
    expect(auditor.get_by_role("heading", level=1)).to_have_text(
        "儿童信息查阅记录" if zh else "Who read children's data"
    )
    fits(auditor)
    assert named[1] and named[4], f"the board and the inbox had named cells at a phone's width: {named}"


# Each cell of a table with a header row, its column's name and what the page shows before the cell.
_CELLS_AND_THEIR_NAMES = """
() => Array.from(document.querySelectorAll("table"), (table) => {
  const names = Array.from(table.querySelectorAll("thead th"), (th) => th.textContent.trim());
  return Array.from(table.querySelectorAll("tbody tr > *"), (cell) => ({
    header: names[cell.cellIndex] || "",
    shown: getComputedStyle(cell, "::before").content,
  }));
}).flat()
"""


# What the journey of a child nobody can name reads, in each language; a township of each its own.
UNNAMED = {
    "zh-CN": {
        "township": "140404100",
        "village": "140404100201",
        "channel": "来源渠道",
        "hotline": "热线",
        "reporter": "报告人身份",
        "neighbour": "邻居",
        "sex": "性别",
        "male": "男",
        "age": "估计年龄（岁）",
        "appearance": "外貌特征",
        "place_seen": "发现地点（文字描述）",
        "village_field": "村（社区）",
        "abuse": "遭受侵害",
        "danger": "面临紧急危险",
        "birth_date": "出生日期",
        "categories": "困境类别",
        "submit": "提交报告",
        "received": "报告已收到",
        "case_number": "个案编号",
        "required": "此项必填。",
        "future": "该日期在将来：不能晚于今天。",
        "unnamed": "无法确认身份的儿童",
        "note": "发生了什么（备注，选填）",
        "caseworker": "儿童督导员",
        "assign": "分配",
        "screen_in": "受理：进入需求评估",
        "record_review": "记录审核结果",
        "record_home_visit": "记录入户调查",
        "when": "时间",
        "records_purpose": "查阅记录的目的（将被记录）",
        "assessment": "评估",
        "show_records": "查看记录和备注",
        "home_visit": "家访",
        "assignment": "指派",
        "child_name": "儿童姓名",
        "child_national_id": "身份证号",
        "known_id": "已登记儿童的身份证号",
        "how_identified": "确认身份的方式",
        "knows_the_child": "社工认识该儿童",
        "link": "关联到已登记儿童",
        "new_report": "新建报告",
        "narrative": "情况描述",
        "boy_age": "7 岁",
        "village_name": "韩店村",
        "box": "^个案编号",
        "find": "查找",
        "closing": "结案",
        "approved": "已批准",
        "approval_decided": "审批决定",
        "owner_assigned": "分配负责人",
        "reviewed": "书面审核",
        "referral_withdrawn": "转介撤回",
        "identified": "确认儿童身份",
        "police": "公安",
    },
    "en-US": {
        "township": "140404101",
        "village": "140404101201",
        "channel": "Channel",
        "hotline": "Hotline",
        "reporter": "The reporter is",
        "neighbour": "Neighbour",
        "sex": "Sex",
        "male": "Male",
        "age": "Estimated age (years)",
        "appearance": "What the child looks like",
        "place_seen": "Where the child was seen (in words)",
        "village_field": "Village or community",
        "abuse": "Violence or abuse",
        "danger": "In immediate danger",
        "birth_date": "Date of birth",
        "categories": "Kinds of difficulty",
        "submit": "Submit the report",
        "received": "Report received",
        "case_number": "Case number",
        "required": "This is required.",
        "future": "This date is in the future: it cannot be later than today.",
        "unnamed": "A child nobody can name",
        "note": "What happened (optional note)",
        "caseworker": "Caseworker",
        "assign": "Assign",
        "screen_in": "Screen in: on to needs assessment",
        "record_review": "Record the review",
        "record_home_visit": "Record a home visit",
        "when": "When",
        "records_purpose": "Why you read the records (recorded)",
        "assessment": "Assessment",
        "show_records": "Show the records and notes",
        "home_visit": "Home visit",
        "assignment": "Assignment",
        "child_name": "Child's name",
        "child_national_id": "National ID number",
        "known_id": "The known child's ID number",
        "how_identified": "How the child was identified",
        "knows_the_child": "The caseworker knows the child",
        "link": "Link to the known child",
        "new_report": "New report",
        "narrative": "What happened",
        "boy_age": "7 years old",
        "village_name": "Sudian Village",
        "box": "^Case number",
        "find": "Find",
        "closing": "Closing",
        "approved": "Approved",
        "approval_decided": "Approval decided",
        "owner_assigned": "Owner assigned",
        "reviewed": "Written review",
        "referral_withdrawn": "Referral withdrawn",
        "identified": "Child identified",
        "police": "Police",
    },
}


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_journey_of_a_boy_nobody_can_name_from_the_call_to_a_safe_closure(
    services: RunningServices, console: str, browser: Browser, locale: str
) -> None:
    """Issue 19's journey, each person in their own browser and language. The hotline operator signs in
    straight to the report form and reports "the boy next door, about seven, bruised face", in immediate
    danger: a form with several mistakes shows them all at once, then the receipt gives the case's
    number. The supervisor finds the case at the top of the board — its number, age, sex, village and
    what happened on the row — and by its number in the header's search box, and assigns it with a note.
    The caseworker's home visit dated in the future is refused beside its field, what was typed kept;
    recorded, it is listed back with its note. The police officer finds it in the inbox by its number,
    reads the child's details for their action and acknowledges with a note. The auditor sees who read
    the child's details and why. A later report names the boy by his ID number: the caseworker links the
    two, one case remains. The closure is refused while referrals are open, until each is withdrawn with
    a reason; the supervisor approves it from the pending requests (listed by the case's number, at a
    phone's width too); the timeline says who did what and what was decided."""
    words = WORDS[locale] | UNNAMED[locale]
    inbox_note = WORDS[locale]["note"]
    operator = add_person(services, "hotline", "")
    supervisor = add_person(services, "supervisor", words["township"])
    caseworker = add_person(services, "caseworker", words["township"])
    police = add_person(services, "agency_officer", words["township"], agency="police")
    happened = f"邻居说男孩在院子里哭喊，脸上有淤青。{uuid.uuid4().hex[:6]}"

    # The hotline operator signs in straight to the report form.
    desk = _person(browser, locale, console, operator)
    expect(desk).to_have_url(re.compile(r"/report$"))
    expect(desk.get_by_role("heading", name=words["new_report"], exact=True)).to_be_visible()

    def unnamed_boy(*, birth_date: str = "", categories: bool = True) -> None:
        desk.get_by_label(words["channel"]).select_option(label=words["hotline"])
        desk.get_by_label(words["reporter"]).select_option(label=words["neighbour"])
        desk.get_by_role("combobox", name=words["sex"]).select_option(label=words["male"])
        desk.get_by_label(words["age"]).fill("7")
        desk.get_by_label(words["birth_date"]).fill(birth_date)
        desk.get_by_label(words["appearance"]).fill("瘦小，左脸有淤青。")
        desk.get_by_label(words["place_seen"]).fill("粮站后面的院子")
        desk.get_by_label(words["village_field"]).select_option(value=words["village"])
        desk.get_by_label(words["abuse"]).set_checked(categories)
        desk.get_by_label(words["danger"]).check()
        desk.get_by_label(words["narrative"], exact=True).fill(happened)
        desk.get_by_role("button", name=words["submit"]).click()

    # Two mistakes at once: a birth date in the future and no kind of difficulty, each in its words.
    unnamed_boy(birth_date="2099-01-01", categories=False)
    alert = desk.get_by_role("alert")
    expect(alert).to_contain_text(f"{words['birth_date']}: {words['future']}")
    expect(alert).to_contain_text(f"{words['categories']}: {words['required']}")
    expect(desk.get_by_label(words["appearance"])).to_have_value("瘦小，左脸有淤青。")
    assert serious_violations(desk) == []
    unnamed_boy()
    expect(desk.get_by_role("heading", name=words["received"])).to_be_visible()
    numbered = re.compile(r"\d{6}-\d{4}-\d{5,9}")
    expect(desk.get_by_role("definition").filter(has_text=numbered)).to_have_count(1)
    receipt = desk.get_by_role("definition").filter(has_text=numbered)
    case_number = numbered.search(receipt.inner_text()).group()
    assert serious_violations(desk) == []

    # The supervisor finds it at the top of the board, among the emergencies (the only one on this
    # township's board in a fresh run), recognisable by its row.
    boss = _person(browser, locale, console, supervisor)
    rows = boss.locator("table.worklist tbody tr")
    row = rows.filter(has_text=case_number)
    _until_board(boss, lambda: row.count() == 1 and words["in_danger"] in row.inner_text())
    listed = list(rows.all_inner_texts())
    place = next(i for i, text in enumerate(listed) if case_number in text)
    assert all(words["in_danger"] in text for text in listed[: place + 1]), "emergencies come first"
    for shown in (
        words["red"],
        words["in_danger"],
        words["boy_age"],
        words["male"],
        words["village_name"],
        happened,
    ):
        expect(row).to_contain_text(shown)
    assert serious_violations(boss) == []
    # By its number in the search box in the header: straight to its page.
    search = boss.get_by_role("search")
    search.get_by_label(re.compile(words["box"])).fill(case_number)
    search.get_by_role("button", name=words["find"]).click()
    expect(boss.get_by_role("heading", level=1)).to_contain_text(case_number)
    expect(boss.get_by_role("heading", name=words["unnamed"])).to_be_visible()
    case_link = boss.url
    # Assigned with a note.
    boss.get_by_label(words["caseworker"]).select_option(label=caseworker)
    assign = boss.locator("form[action$='/assignment']")
    assign.get_by_label(words["note"], exact=True).fill("邻居多次看到他一个人在院子里。")
    assign.get_by_role("button", name=words["assign"]).click()
    expect(boss.locator("dl.summary")).to_contain_text(caseworker)

    # The caseworker screens it in, then records a home visit: dated in the future first.
    worker = _person(browser, locale, console, caseworker)
    worker.goto(case_link)
    worker.get_by_label(words["screen_in"]).check()
    worker.get_by_role("button", name=words["record_review"]).click()
    home_visit = worker.locator("form[action$='/home-visits']")
    worker.get_by_text(words["record_home_visit"]).first.click()
    just_now = home_visit.get_by_label(words["when"]).input_value()  # the form's own default
    home_visit.get_by_label(words["when"]).fill("2099-01-01T10:00")
    home_visit.get_by_label(words["note"], exact=True).fill("孩子在奶奶家，脸上的淤青已消退。")
    home_visit.get_by_role("button").click()
    expect(home_visit.get_by_text(words["future"])).to_be_visible()
    expect(home_visit.get_by_label(words["note"], exact=True)).to_have_value(
        "孩子在奶奶家，脸上的淤青已消退。"
    )
    expect(home_visit.get_by_label(words["when"])).to_have_value("2099-01-01T10:00")
    assert serious_violations(worker) == []
    home_visit.get_by_label(words["when"]).fill(just_now)
    home_visit.get_by_role("button").click()
    assert "problem" not in worker.url, worker.url
    expect(worker.get_by_text(words["future"])).to_have_count(0)

    # Read back only with a purpose: the home visit with its note, the assignment's note.
    worker.get_by_label(words["records_purpose"]).select_option(label=words["assessment"])
    worker.get_by_role("button", name=words["show_records"]).click()
    expect(worker.get_by_role("status")).to_contain_text(words["assessment"])
    visit = worker.get_by_role("listitem").filter(has_text="孩子在奶奶家，脸上的淤青已消退。")
    expect(visit).to_contain_text(words["home_visit"])
    expect(worker.get_by_role("listitem").filter(has_text="邻居多次看到他一个人在院子里。")).to_contain_text(
        words["assignment"]
    )
    assert serious_violations(worker) == []
    records_link = worker.url

    # The police officer finds it in the agency's inbox by its number: a boy of about seven, his village,
    # what the police are asked to do; reads the child's details for their action; acknowledges, noted.
    officer = _person(browser, locale, console, police)
    _until(officer, lambda: officer.get_by_role("row").filter(has_text=case_number).count() == 1)
    referral = officer.get_by_role("row").filter(has_text=case_number)
    for shown in (words["boy_age"], words["male"], words["village_name"], words["in_danger"]):
        expect(referral).to_contain_text(shown)
    referral.get_by_role("button", name=re.compile(words["child_for_action"])).click()
    expect(officer.get_by_role("status")).to_contain_text(words["protection_action"])
    officer.go_back()
    referral.get_by_label(inbox_note).fill("已派民警上门核实。")
    referral.get_by_role("button", name=words["acknowledge"]).click()
    assert "problem" not in officer.url, officer.url
    expect(referral).to_contain_text(words["acknowledged"])
    assert serious_violations(officer) == []

    # The auditor sees who read the boy's details, and why: the police for their action, the
    # caseworker's reading of the records for the assessment.
    auditor = _person(browser, locale, console, add_person(services, "auditor", ""))
    _sees_who_read_the_child(auditor, case_link, words, police=police, caseworker=caseworker)

    # A later report names a boy of the village; the caseworker knows it is him and links the two:
    # one case remains, this one, with its number.
    known_id = "".join(random.choices("0123456789", k=17)) + "X"
    desk.goto(console + "/report")
    desk.get_by_label(words["child_name"]).fill("李小军")
    desk.get_by_label(words["child_national_id"]).fill(known_id)
    unnamed_boy()
    expect(desk.get_by_role("heading", name=words["received"])).to_be_visible()
    worker.goto(case_link)
    identify = worker.locator("form[action$='/identification']").first
    identify.get_by_label(words["known_id"]).fill(known_id)
    identify.get_by_label(words["how_identified"]).select_option(label=words["knows_the_child"])
    identify.get_by_role("button", name=words["link"]).click()
    assert "problem" not in worker.url, worker.url
    expect(worker.get_by_role("heading", name=words["unnamed"])).to_have_count(0)
    expect(worker.get_by_role("heading", level=1)).to_contain_text(case_number)

    # Closing: a follow-up visit first (red needs one within 30 days), then the request — refused while
    # agencies hold referrals, until each is withdrawn with a reason.
    worker.get_by_role("button", name=words["record_visit"]).click()
    assert "problem" not in worker.url, worker.url
    _asks_to_close_withdrawing_each_referral(worker, words)
    expect(worker.locator("#requests-title + ul")).to_contain_text(words["risk_resolved"])
    # The supervisor's pending requests name the case by its number and grade, at a phone's width too.
    boss.get_by_role("link", name=words["pending"]).first.click()
    request = boss.get_by_role("row").filter(has_text=case_number)
    expect(request).to_contain_text(words["red"])
    expect(request).to_contain_text(words["risk_resolved"])
    assert serious_violations(boss) == []
    boss.set_viewport_size({"width": 390, "height": 844})
    assert boss.evaluate("document.documentElement.scrollWidth") <= 390, boss.url
    assert serious_violations(boss) == []
    boss.set_viewport_size({"width": 1280, "height": 900})
    request.get_by_role("button", name=words["approve"]).click()
    expect(boss.get_by_role("row").filter(has_text=case_number)).to_have_count(0)

    # The timeline says who did what and what was decided.
    def step(event: str) -> str:
        return "\n".join(worker.locator("ol.timeline li").filter(has_text=event).all_inner_texts())

    _until(
        worker,
        lambda: (
            words["closed"] in worker.locator("dl.summary").inner_text()
            and words["closing"] in step(words["approval_decided"])
        ),
    )
    assert f"{supervisor}{words['as_supervisor']}" in step(words["owner_assigned"]), step(
        words["owner_assigned"]
    )
    assert caseworker in step(words["owner_assigned"]), "the assignment names the new owner"
    review = step(words["reviewed"])
    assert f"{caseworker}{words['as_caseworker']}" in review and words["accepted"] in review, review
    answered = step(police)
    assert words["acknowledged"] in answered or words["acknowledge"] in answered, answered
    withdrawn = step(words["referral_withdrawn"])
    assert caseworker in withdrawn and words["no_longer_needed"] in withdrawn, withdrawn
    decided = step(words["approval_decided"])
    assert supervisor in decided and words["approved"] in decided and words["closing"] in decided, decided
    assert caseworker in step(words["identified"]), step(words["identified"])
    assert serious_violations(worker) == []

    # The pages the journey changed fit a phone.
    for page in (worker, desk):
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, page.url
        assert serious_violations(page) == [], page.url
    for link in (case_link, records_link):  # the records' address is their purpose form (issue 20)
        worker.goto(link)
        assert worker.evaluate("document.documentElement.scrollWidth") <= 390, worker.url
        assert serious_violations(worker) == []
    # The records read again, why chosen again: the police's note of their acknowledgement, under the police.
    worker.get_by_label(words["records_purpose"]).select_option(label=words["assessment"])
    worker.get_by_role("button", name=words["show_records"]).click()
    assert worker.evaluate("document.documentElement.scrollWidth") <= 390, worker.url
    expect(worker.get_by_role("listitem").filter(has_text="已派民警上门核实。")).to_contain_text(
        words["police"]
    )


# The board's own county (no other test reports there): one township for each language.
BOARD_TOWNSHIPS = {
    "zh-CN": ("140405100", "屯留区 › 麟绛镇 › 康庄村"),
    "en-US": ("140405101", "屯留区 › 上村镇 › 上村村"),
}
BOARD_WORDS = {
    "zh-CN": {
        "sign_in": "登录",
        "found": "找到的个案：{n} 件",
        "all": "全部",
        "emergency": "面临紧急危险",
        "red": "红色（高风险）",
        "girl": "女",
        "age": "9 岁",
        "next": "下一页",
        "previous": "上一页",
        "page": "第 {n} 页",
        "box": "个案编号、身份证号、姓名或报告人电话",
        "find": "查找",
        "nothing": "没有个案编号为 {n} 的个案。",
        "name": "儿童姓名",
        "village": "康庄村",
        "phone": "报告人电话",
        "purpose": "查询目的",
        "investigation": "调查",
        "search": "查询",
    },
    "en-US": {
        "sign_in": "Sign in",
        "found": "Cases found: {n}",
        "all": "All",
        "emergency": "In immediate danger",
        "red": "Red (high risk)",
        "girl": "Female",
        "age": "9 years old",
        "next": "Next page",
        "previous": "Previous page",
        "page": "Page {n}",
        "box": "Case number, ID number, name or reporter's phone",
        "find": "Find",
        "nothing": "No case has the number {n}.",
        "name": "Child's name",
        "village": "Shangcun Village",
        "phone": "Reporter's phone",
        "purpose": "Purpose",
        "investigation": "Investigation",
        "search": "Search",
    },
}


def _quick_count(page: Page, name: str) -> int:
    link = page.get_by_role("navigation", name=re.compile("快速筛选|Quick filters")).get_by_role(
        "link", name=re.compile(f"^{re.escape(name)} \\d+$")
    )
    return int(link.inner_text().split()[-1])


def _total(page: Page) -> int:
    return int(re.search(r"\d+", page.locator("#cases").get_by_role("status").inner_text()).group())


def _until_board(page: Page, ready) -> None:
    """Reload the board once a second until it is `ready`: each load reads the rows' lines from
    intake, which allows a person 120 reads of personal data a minute."""
    for _ in range(90):
        if ready():
            return
        page.wait_for_timeout(1000)
        page.reload()
    assert ready(), page.locator("#cases").inner_text()[:1000]


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_supervisor_finds_a_new_red_emergency_at_the_top_of_the_board_and_by_its_number(
    services: RunningServices, console: str, browser: Browser, locale: str
) -> None:
    words, (township, village) = BOARD_WORDS[locale], BOARD_TOWNSHIPS[locale]
    boss = _person(browser, locale, console, add_person(services, "supervisor", township))
    before = _total(boss)
    # More than a page of cases (left-behind children, none in danger).
    hotline = token(Role.hotline, subject="hotline-board")
    for _ in range(PAGE_SIZE + 1):
        report = hotline_report(jurisdiction=f"{township}201", categories=["left_behind"], indicators=[])
        httpx.post(services.urls["intake"] + "/v1/reports", json=report, headers=hotline).raise_for_status()
    _until_board(boss, lambda: _total(boss) == before + PAGE_SIZE + 1)
    assert _quick_count(boss, words["all"]) == before + PAGE_SIZE + 1
    emergencies, red = _quick_count(boss, words["emergency"]), _quick_count(boss, words["red"])

    # Paging by the cursor: the next page, then the previous one, the first fifty again.
    rows = boss.locator("table.worklist tbody tr")
    expect(rows).to_have_count(PAGE_SIZE)
    first_of_page_one = rows.first.get_by_role("link").inner_text()
    boss.get_by_role("link", name=words["next"]).click()
    expect(boss.get_by_text(words["page"].format(n=2))).to_be_visible()
    assert "after=" in boss.url and rows.first.get_by_role("link").inner_text() != first_of_page_one
    boss.get_by_role("link", name=words["previous"]).click()
    expect(boss.get_by_text(words["page"].format(n=1))).to_be_visible()
    expect(rows).to_have_count(PAGE_SIZE)
    expect(rows.first.get_by_role("link")).to_have_text(first_of_page_one)

    # The hotline operator reports a girl in immediate danger in the township's village.
    happened = f"邻居听到孩子呼救。{uuid.uuid4().hex[:6]}"
    phone = "13" + "".join(random.choices("0123456789", k=9))
    desk = _person(browser, "zh-CN", console, add_person(services, "hotline", ""))
    report_in_the_form(
        desk,
        console,
        categories=["遭受侵害"],
        village=village,
        narrative=happened,
        phone=f"{phone[:3]} {phone[3:7]} {phone[7:]}",
    )
    expect(desk.get_by_role("heading", name="报告已收到")).to_be_visible()

    # Among the emergencies at the top of the board (the only one on a new territory): its number, red,
    # a girl of nine, her village and what happened; the total and the counts one more.
    boss.goto(console + "/board")
    # Counted once casework has it, among the emergencies once assessment has graded it.
    _until_board(boss, lambda: _quick_count(boss, words["emergency"]) == emergencies + 1)
    top = rows.filter(has_text=happened)
    # Its line of what happened comes from intake, which allows a person so many reads a minute: the
    # reloads above may have spent them, and then the row waits for the next minute's.
    _until_board(boss, lambda: top.count() == 1)
    expect(top).to_have_count(1)
    listed = [row.inner_text() for row in rows.all()]
    place = next(i for i, text in enumerate(listed) if happened in text)
    assert place <= emergencies, "among the emergencies"
    assert all(words["emergency"] in text for text in listed[: emergencies + 1]), "emergencies first"
    for shown in (words["red"], words["emergency"], words["girl"], words["age"], words["village"]):
        expect(top).to_contain_text(shown)
    case_number = top.get_by_role("link").inner_text()
    assert re.fullmatch(r"\d{6}-\d{4}-\d{5,9}", case_number), case_number
    assert _quick_count(boss, words["all"]) == before + PAGE_SIZE + 2
    assert _quick_count(boss, words["emergency"]) == emergencies + 1
    assert _quick_count(boss, words["red"]) == red + 1
    assert serious_violations(boss) == []
    # The quick filter applies itself (htmx swaps the board alone): the emergencies, counted so.
    boss.get_by_role("navigation", name=re.compile("快速筛选|Quick filters")).get_by_role(
        "link", name=re.compile(f"^{re.escape(words['emergency'])} ")
    ).click()
    expect(boss).to_have_url(re.compile(r"/board\?emergency=true$"))
    total = boss.locator("#cases").get_by_role("status")
    expect(total).to_have_text(words["found"].format(n=emergencies + 1))
    expect(rows).to_have_count(emergencies + 1)

    # The search box in the header: the number goes straight to its case.
    search = boss.get_by_role("search")
    search.get_by_label(words["box"]).fill(case_number)
    search.get_by_role("button", name=words["find"]).click()
    expect(boss).to_have_url(re.compile(r"/cases/[0-9a-f-]{36}$"))
    expect(boss.get_by_role("heading", level=1)).to_contain_text(case_number)
    # A number no case has is said in words; a name goes to the child search, filled in.
    unknown = f"{township[:6]}-2020-99999"
    search.get_by_label(words["box"]).fill(unknown)
    search.get_by_label(words["box"]).press("Enter")
    expect(boss.get_by_text(words["nothing"].format(n=unknown))).to_be_visible()
    search.get_by_label(words["box"]).fill("王小红")
    search.get_by_role("button", name=words["find"]).click()
    expect(boss).to_have_url(re.compile(r"/children/search\?"))
    expect(boss.get_by_label(words["name"])).to_have_value("王小红")
    # The caller's phone, written otherwise, goes to the search by phone; the case it reported is a link.
    search.get_by_label(words["box"]).fill(f"+86-{phone}")
    search.get_by_role("button", name=words["find"]).click()
    expect(boss.get_by_label(words["phone"], exact=True)).to_have_value(f"+86-{phone}")
    boss.get_by_label(words["purpose"]).select_option(label=words["investigation"])
    boss.get_by_role("button", name=words["search"], exact=True).click()
    expect(boss.get_by_role("status").get_by_role("link", name=case_number)).to_be_visible()
    for width, height in ((1280, 900), (390, 844)):  # the search with what it found, at a desk and a phone
        boss.set_viewport_size({"width": width, "height": height})
        assert boss.evaluate("document.documentElement.scrollWidth") <= width
        assert serious_violations(boss) == []
    boss.set_viewport_size({"width": 1280, "height": 900})
    boss.get_by_role("status").get_by_role("link", name=case_number).click()
    expect(boss.get_by_role("heading", level=1)).to_contain_text(case_number)

    # The board at a phone's width: nothing wider than the phone, nothing axe-core finds serious.
    boss.set_viewport_size({"width": 390, "height": 844})
    boss.goto(console + "/board")
    expect(rows.filter(has_text=case_number)).to_have_count(1)
    assert boss.evaluate("document.documentElement.scrollWidth") <= 390
    assert serious_violations(boss) == []


def _on_a_thread(work):
    """An async step run to its end on a thread of its own (the browser's loop runs on this one)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


async def _subject_of(database_url: str, username: str) -> str:
    """The pseudonymous subject the services know a console person by."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    connection = await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port, database=url.database
    )
    try:
        return await connection.fetchval("SELECT subject FROM console.users WHERE username = $1", username)
    finally:
        await connection.close()


async def _closed_red_case(infra, services: RunningServices, village: str, owner: str) -> str:
    """A red case of the village, owned by the caseworker `owner`, closed as people close it."""
    from tests.e2e.closing import closed_on_approval
    from tests.e2e.test_casework import _case, reported_and_owned

    supervisor = token(Role.supervisor, "sup-county", jurisdiction=village[:6])
    case_id = await reported_and_owned(infra, hotline_report(jurisdiction=village))
    async with httpx.AsyncClient(base_url=services.urls["casework"]) as casework:
        await _case(casework, case_id, supervisor)
        named = await casework.post(
            f"/v1/cases/{case_id}/assignment", json=assignment(owner, village[:9]), headers=supervisor
        )
        assert named.status_code == 200, named.text
    await closed_on_approval(
        services.urls, case_id, token(Role.caseworker, owner, jurisdiction=village[:9]), supervisor
    )
    return case_id


def test_a_caseworker_asks_to_reopen_a_closed_red_case_and_the_supervisor_approves_it(
    infra, services: RunningServices, console: str, browser: Browser
) -> None:
    """On the closed case's page the caseworker who owns it asks to reopen it (a red case), with the reason
    and a note; the supervisor finds the request on the approvals page, with its reason, and approves; the
    case is open again and its timeline says who reopened it, why, and who approved."""
    township, village = "140403101", "140403101201"  # a township no other browser test counts cases in
    worker, boss_name = (
        add_person(services, "caseworker", township),
        add_person(services, "supervisor", township),
    )
    owner = _on_a_thread(_subject_of(infra.database_url, worker))
    case_id = _on_a_thread(_closed_red_case(infra, services, village, owner))

    mine = _person(browser, "zh-CN", console, worker)
    mine.goto(f"{console}/cases/{case_id}")
    reopening = mine.get_by_role("region", name="重新开启个案")
    expect(reopening).to_contain_text("红色个案须经审核人批准方可重新开启。")
    reopening.get_by_label("重新开启的原因").select_option(label="仍需帮扶服务")
    reopening.get_by_label("发生了什么（备注，选填）").fill("学校反映孩子仍需帮扶。")
    assert serious_violations(mine) == []
    mine.set_viewport_size({"width": 390, "height": 844})  # the closed case's page, its form, on a phone
    assert mine.evaluate("document.documentElement.scrollWidth") <= 390
    assert serious_violations(mine) == []
    mine.set_viewport_size({"width": 1280, "height": 900})
    reopening.get_by_role("button", name="申请重新开启").click()
    requests = mine.get_by_role("region", name="审批申请")
    expect(requests).to_contain_text("重新开启个案 · 仍需帮扶服务 · 待审批")
    expect(mine.get_by_role("region", name="重新开启个案")).to_have_count(0)  # asked once: no second form

    boss = _person(browser, "zh-CN", console, boss_name)
    boss.goto(f"{console}/approvals")
    row = boss.get_by_role("row").filter(has=boss.locator(f"a[href='/cases/{case_id}']"))
    expect(row).to_contain_text("重新开启个案")
    expect(row).to_contain_text("仍需帮扶服务")
    row.get_by_role("button", name="批准").click()
    expect(boss.get_by_role("row").filter(has=boss.locator(f"a[href='/cases/{case_id}']"))).to_have_count(0)

    mine.goto(f"{console}/cases/{case_id}")
    summary = mine.locator("dl.summary")
    expect(summary).to_contain_text("重新开启")
    expect(summary).not_to_contain_text("已结案")
    timeline = mine.get_by_role("region", name="时间线")
    _until(mine, lambda: "由" in timeline.inner_text() and "仍需帮扶服务" in timeline.inner_text())
    step = timeline.get_by_role("listitem").filter(has_text="仍需帮扶服务").last
    expect(step).to_contain_text(worker)
    expect(step).to_contain_text(f"由{boss_name}批准")


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_county_supervisor_finds_a_child_without_an_age_to_correct_from_the_dashboard(
    services: RunningServices, console: str, browser: Browser, locale: str
) -> None:
    """Data quality: the dashboard scores each township; its link lists the cases to correct, one rule
    or all; the child reported with neither birth date nor age is there, under its township, and a
    click opens its case, where it is corrected; a township's name drills down to its own list."""
    zh = locale == "zh-CN"
    territory, county = load_territory(), "140402000000"
    township = territory.children(county)[-1]
    named = township.name("zh-CN" if zh else "en")
    report = hotline_report(
        jurisdiction=territory.children(township.code)[0].code,
        child={"birth_date": None, "age_estimate": None},
        categories=["left_behind"],
        indicators=[],
    )
    caseworker = token(Role.caseworker, subject="caseworker-quality", jurisdiction=county[:6])
    made = httpx.post(services.urls["intake"] + "/v1/reports", json=report, headers=caseworker)
    made.raise_for_status()
    case_id = made.json()["case_id"]

    boss = _person(browser, locale, console, add_person(services, "supervisor", county[:6]))
    boss.goto(console + "/dashboard")
    quality = boss.get_by_role("region", name="数据质量" if zh else "Data quality")
    scores = quality.get_by_role("table", name="各辖区数据质量得分" if zh else "Quality score by territory")
    expect(scores.get_by_role("row").filter(has_text=named)).to_have_count(1)
    assert serious_violations(boss) == []
    quality.get_by_role("link", name="待更正个案" if zh else "Cases to correct").click()
    expect(boss.get_by_role("heading", level=1)).to_have_text("数据质量" if zh else "Data quality")
    lacking = "缺少出生日期或年龄" if zh else "Neither birth date nor age"
    boss.get_by_label("待更正内容" if zh else "What is lacking").select_option(label=lacking)
    boss.get_by_role("button", name="显示" if zh else "Show").click()
    expect(boss).to_have_url(re.compile(r"rule=no_age"))
    link = boss.locator(f"#cases-to-correct a[href='/cases/{case_id}']")
    _until(boss, lambda: link.count() == 1)
    row = boss.locator("#cases-to-correct tbody tr").filter(has=boss.locator(f"a[href='/cases/{case_id}']"))
    expect(row).to_contain_text(lacking)
    expect(row).to_contain_text(named)
    expect(boss.get_by_role("status")).to_contain_text("个案" if zh else "Cases found")
    assert serious_violations(boss) == []
    with boss.expect_download() as download:
        boss.get_by_role("link", name="下载CSV" if zh else "Download CSV").click()
    taken = download.value.path().read_text(encoding="utf-8-sig")
    assert made.json()["case_number"] in taken and lacking in taken, "the list as a file, in words"

    boss.get_by_role("table", name="各辖区数据质量得分" if zh else "Quality score by territory").get_by_role(
        "link", name=named
    ).click()
    expect(boss.locator("select[name=territory]")).to_have_value(township.code)
    _until(boss, lambda: link.count() == 1)
    link.click()
    expect(boss).to_have_url(re.compile(f"/cases/{case_id}$"))
    expect(boss.locator("dl.summary")).to_be_visible()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_supervisor_takes_the_case_file_for_a_court_in_an_archive_only_the_password_opens(
    services: RunningServices, console: str, browser: Browser, locale: str, tmp_path
) -> None:
    """The case file for a court: from the case's page, a purpose and a password typed twice (a short one
    refused beside its field); a 7z archive that does not open without the password, and with it a PDF
    holding the child's name, what the reporter said and the timeline; the export on the access ledger
    with its purpose."""
    zh = locale == "zh-CN"
    tag = uuid.uuid4().hex[:8]
    report = hotline_report(jurisdiction="140402001001", child={"name": f"档案儿童{tag}"})
    caseworker = token(Role.caseworker, subject="caseworker-case-file", jurisdiction="140402")
    made = httpx.post(services.urls["intake"] + "/v1/reports", json=report, headers=caseworker)
    made.raise_for_status()
    case_id = made.json()["case_id"]

    boss = _person(browser, locale, console, add_person(services, "supervisor", "140402"))
    boss.goto(f"{console}/cases/{case_id}")
    boss.get_by_role(
        "link",
        name="导出个案档案（PDF，供法院或转移管辖使用）"
        if zh
        else "The case file as a PDF, for a court or a transfer",
    ).click()
    expect(boss.get_by_role("heading", level=1)).to_contain_text("个案档案" if zh else "The case file")
    purpose = "法律程序" if zh else "Legal proceedings"
    boss.get_by_label("导出目的" if zh else "Why the details leave the system").select_option(label=purpose)
    password = "a court's sealed envelope"
    boss.get_by_label("压缩包密码" if zh else "The archive's password").fill("short")
    boss.get_by_label("再次输入密码" if zh else "The password again").fill("short")
    boss.get_by_role("button", name="下载压缩包" if zh else "Download the archive").click()
    expect(boss.locator(".field-error, [id$=-error]").first).to_be_visible()
    assert serious_violations(boss) == []
    boss.get_by_label("导出目的" if zh else "Why the details leave the system").select_option(label=purpose)
    boss.get_by_label("压缩包密码" if zh else "The archive's password").fill(password)
    boss.get_by_label("再次输入密码" if zh else "The password again").fill(password)
    with boss.expect_download() as download:
        boss.get_by_role("button", name="下载压缩包" if zh else "Download the archive").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.endswith(".7z") and saved.name.startswith("case-140402-")
    with pytest.raises(py7zr.exceptions.PasswordRequired):
        with py7zr.SevenZipFile(saved) as sealed:
            sealed.getnames()
    with py7zr.SevenZipFile(saved, password=password) as sealed:
        (name,) = sealed.getnames()
        sealed.extractall(path=tmp_path)
    assert name.endswith(".pdf")
    document = pypdfium2.PdfDocument(tmp_path / name)
    text = "".join(page.get_textpage().get_text_range() for page in document)
    assert f"档案儿童{tag}" in text, "the child's name"
    assert "".join(report["narrative"].split()) in "".join(text.split()), "what the reporter said"
    assert ("个案档案" if zh else "Case file") in text and (purpose in text)

    boss.goto(f"{console}/cases/{case_id}")
    boss.get_by_role("link", name="谁查阅过这名儿童的信息" if zh else "Who read this child's data").click()
    exported = boss.get_by_role("row").filter(has_text="导出" if zh else "Exported").filter(has_text=purpose)
    expect(exported.first).to_be_visible()
