"""Take the README's screenshots of the console: the board, a case page and the agency inbox, in
Chinese and English. Run it while `make run` is going (it signs in as the demonstration people
`make run` prints, and first reports three children so there is something to show):

    .venv/bin/python docs/screenshots/take.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from services.console.accounts import DEMO_PASSWORD
from shared.auth import Role, issue_token
from shared.settings import Settings

HERE = Path(__file__).parent
CONSOLE = "http://127.0.0.1:8000"
EXAMPLE = json.loads((HERE.parent / "examples" / "hotline-report.json").read_text())


def report_three_children(settings: Settings) -> None:
    """A red, an orange and a blue report, as the hotline vendor sends them."""
    token = issue_token(settings, subject="screenshots-hotline", role=Role.hotline)
    kinds = [
        (["abuse"], ["immediate_danger", "visible_injury"]),
        (["left_behind"], ["no_caregiver", "out_of_school"]),
        (["left_behind"], ["left_behind"]),
    ]
    for number, (categories, indicators) in enumerate(kinds):
        report = {
            **EXAMPLE,
            "external_id": f"SHOT-{time.time_ns()}-{number}",
            "categories": categories,
            "indicators": indicators,
            "child": {**EXAMPLE["child"], "national_id": None, "name": f"Example Child {number}"},
        }
        answer = httpx.post(
            f"http://127.0.0.1:{settings.intake_port}/v1/reports",
            json=report,
            headers={"Authorization": f"Bearer {token}"},
        )
        answer.raise_for_status()
    time.sleep(3)  # graded, referred and owned meanwhile


def signed_in(browser, locale: str, username: str) -> Page:
    page = browser.new_context(locale=locale, viewport={"width": 1280, "height": 860}).new_page()
    page.goto(CONSOLE + "/")
    page.locator("#username").fill(username)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("form.stack button").click()
    page.wait_for_load_state()
    return page


def main() -> None:
    settings = Settings()
    report_three_children(settings)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        for locale, suffix in (("zh-CN", "zh"), ("en-US", "en")):
            page = signed_in(browser, locale, "supervisor")
            page.screenshot(path=HERE / f"board-{suffix}.png")
            page.locator("a[href^='/cases/']").first.click()
            page.wait_for_load_state()
            page.screenshot(path=HERE / f"case-{suffix}.png", full_page=True)
            inbox = signed_in(browser, locale, "police")
            inbox.screenshot(path=HERE / f"inbox-{suffix}.png")
        browser.close()
    print("written:", ", ".join(sorted(p.name for p in HERE.glob("*.png"))))


if __name__ == "__main__":
    main()
