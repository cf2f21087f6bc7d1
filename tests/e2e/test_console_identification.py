"""A supervisor undoes an identification from the console, in Chinese and in English, on the real stack:
an unnamed boy and a named child are reported, and the supervisor links them on the boy's case page — one
case remains, the other is closed. The case that remained lists the link in words (who, when, how, the
other case by its number); the supervisor asks to undo it, confirms with a reason and a note, and sees
the link undone, the boy unnamed again, the other case open again, and the note among the case's
records. axe-core finds nothing serious on the changed pages at a desk's width and a phone's."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, national_id, token
from tests.e2e.test_console_browser import (  # noqa: F401  (browser, console, nothing_refused_…: fixtures)
    UNNAMED,
    _person,
    _until,
    add_person,
    browser,
    console,
    nothing_refused_by_the_csp,
    serious_violations,
)
from tests.e2e.test_provisional_children import unnamed_boy

# A township of each language's own (no other test reports there), and the words each page says.
WORDS = {
    "zh-CN": {
        "township": "140404102",
        "village": "140404102201",
        "identification": "身份确认记录",
        "linked": "关联到已登记儿童",
        "identified_by": "确认人：{}",
        "merged_here": "并入本个案的个案",
        "merged_into": "本个案曾并入",
        "undo": "撤销关联…",
        "really": "确定撤销这次关联吗？",
        "why": "撤销关联的原因",
        "not_same": "不是同一名儿童",
        "yes": "确定撤销关联",
        "undone": "已撤销关联",
        "undone_by": "撤销人：{}",
        "closed": "已结案",
        "written_review": "书面审核",
        "note_action": "撤销关联",
    },
    "en-US": {
        "township": "140406100",
        "village": "140406100201",
        "identification": "Identification",
        "linked": "Linked to a known child",
        "identified_by": "Identified by {}",
        "merged_here": "Case merged into this one",
        "merged_into": "This case was merged into",
        "undo": "Undo the link…",
        "really": "Undo this link?",
        "why": "Why the link is undone",
        "not_same": "Not the same child",
        "yes": "Yes, undo the link",
        "undone": "Link undone",
        "undone_by": "Undone by {}",
        "closed": "Closed",
        "written_review": "Written review",
        "note_action": "Link undone",
    },
}


def _reported(services: RunningServices, report: dict, township: str) -> dict:
    """A report taken down by a caseworker of the township over intake's API: its case and number."""
    caseworker = token(Role.caseworker, f"cw-{township}", jurisdiction=township)
    headers = {**caseworker, "Idempotency-Key": f"undo-{report['external_id']}"}
    answer = httpx.post(services.urls["intake"] + "/v1/reports", json=report, headers=headers)
    assert answer.status_code == 202, answer.text
    return answer.json()


def _fits(page: Page) -> None:
    """Nothing axe-core finds serious at a desk's width, nor at a phone's, where nothing is wider."""
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert serious_violations(page) == [], (width, page.url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, page.url
    page.set_viewport_size({"width": 1280, "height": 900})


def _stage_is(page: Page, stage: str) -> bool:
    return page.get_by_role("definition").get_by_text(stage, exact=True).count() == 1


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_supervisor_undoes_a_link_after_confirming_and_the_two_cases_are_separate_again(
    services: RunningServices, console: str, browser: Browser, locale: str
) -> None:
    words = UNNAMED[locale] | WORDS[locale]
    supervisor = add_person(services, "supervisor", words["township"])
    boy = _reported(services, unnamed_boy(jurisdiction=words["village"]), words["township"])
    known_id = national_id()
    named = _reported(
        services,
        hotline_report(
            jurisdiction=words["village"],
            child={"name": "李小军", "national_id": known_id, "sex": "M", "birth_date": "2019-03-02"},
        ),
        words["township"],
    )

    # The supervisor links the boy to the named child on the boy's page: the boy's case remains.
    boss = _person(browser, locale, console, supervisor)
    boss.goto(f"{console}/cases/{boy['case_id']}")
    _until(boss, lambda: boss.get_by_role("heading", name=words["unnamed"]).count() == 1)
    unnamed = boss.get_by_role("region", name=words["unnamed"])
    unnamed.get_by_label(words["known_id"]).fill(known_id)
    unnamed.get_by_label(words["how_identified"]).first.select_option(label=words["knows_the_child"])
    unnamed.get_by_role("button", name=words["link"]).click()
    assert "problem" not in boss.url, boss.url
    expect(unnamed).to_have_count(0)

    # Listed in words: what was decided, by whom, how, and the other case by its number.
    listed = boss.get_by_role("region", name=words["identification"])
    expect(listed).to_contain_text(words["linked"])
    expect(listed).to_contain_text(words["identified_by"].format(supervisor))
    expect(listed).to_contain_text(words["knows_the_child"])
    expect(listed).to_contain_text(words["merged_here"])
    assert "李小军" not in listed.inner_text() and known_id not in listed.inner_text(), (
        "records, not his data"
    )
    _fits(boss)
    # The other case is closed as merged away, and says into which case.
    listed.get_by_role("link", name=named["case_number"]).click()
    _until(boss, lambda: _stage_is(boss, words["closed"]))
    merged = boss.get_by_role("region", name=words["identification"])
    expect(merged).to_contain_text(words["merged_into"])
    merged.get_by_role("link", name=boy["case_number"]).click()

    # Undone only after the page that asks, with a reason and a note.
    boss.get_by_role("region", name=words["identification"]).get_by_role(
        "link", name=words["undo"], exact=True
    ).click()
    expect(boss.get_by_role("heading", level=1)).to_have_text(words["really"])
    expect(boss.get_by_role("definition").filter(has_text=named["case_number"])).to_have_count(1)
    _fits(boss)
    boss.get_by_label(words["why"]).select_option(label=words["not_same"])
    boss.get_by_label(words["note"], exact=True).fill("家访核实：两个孩子不是同一人。")
    boss.get_by_role("button", name=words["yes"], exact=True).click()
    assert "problem" not in boss.url, boss.url
    expect(boss).to_have_url(f"{console}/cases/{boy['case_id']}")

    # The link is listed as undone, by whom and why, with nothing left to undo; the boy is unnamed again.
    listed = boss.get_by_role("region", name=words["identification"])
    expect(listed).to_contain_text(words["undone"])
    expect(listed).to_contain_text(words["undone_by"].format(supervisor))
    expect(listed).to_contain_text(words["not_same"])
    expect(listed.get_by_role("link", name=words["undo"], exact=True)).to_have_count(0)
    expect(boss.get_by_role("heading", name=words["unnamed"])).to_be_visible()
    _fits(boss)
    # Two cases again: the other one reopens at the stage it was closed from (graded: its written review).
    listed.get_by_role("link", name=named["case_number"]).click()
    _until(boss, lambda: _stage_is(boss, words["written_review"]))
    expect(boss.get_by_role("region", name=words["identification"])).to_contain_text(words["undone"])

    # The note is read back with the case that remained, once the supervisor says why.
    boss.goto(f"{console}/cases/{boy['case_id']}")
    boss.get_by_label(words["records_purpose"]).select_option(label=words["assessment"])
    boss.get_by_role("button", name=words["show_records"]).click()
    note = boss.get_by_role("listitem").filter(has_text="家访核实：两个孩子不是同一人。")
    expect(note).to_contain_text(words["note_action"])
    _fits(boss)
