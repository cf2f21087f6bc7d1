"""A periodic bulletin (定期通报) anyone holding the ledger can check, on the real stack: `cpnet bulletin`
for the city writes a PDF whose first page carries its title in Chinese and an XLSX that opens; this
test counts every figure again on its own, from the ledger's entries within the heads the bulletin
names, and finds each cell equal; `cpnet bulletin verify` confirms the file, and names the figure a
person changed by hand."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pypdfium2
from openpyxl import load_workbook
from sqlalchemy.engine import make_url

from services.console.i18n import languages
from shared.auth import Role
from shared.contracts.envelope import parse_event
from shared.contracts.topics import TOPICS
from shared.territory.registry import load_territory
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, token
from tests.e2e.test_access_audit import eventually, officer, reported_to_police

CITY = "140400000000"
VILLAGE = "140429102201"  # Zhuanbi Village, Panlong Town, Wuxiang County
BEIJING = ZoneInfo("Asia/Shanghai")


def _cpnet(services: RunningServices, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cpnet.cli", *args],
        env=services.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def _on_the_ledger(services: RunningServices, case_id: str, event_type: str) -> None:
    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        answer = await eventually(
            lambda: http.get(f"/v1/cases/{case_id}/timeline", headers=token(Role.auditor, "inspector-9")),
            lambda a: a.status_code == 200 and any(s["event_type"] == event_type for s in a.json()),
        )
    assert any(s["event_type"] == event_type for s in answer.json()), answer.text


async def test_the_citys_bulletin_is_recounted_from_the_ledger_and_a_figure_changed_by_hand_is_named(
    infra, services: RunningServices, tmp_path: Path
) -> None:
    # Six red emergencies in one village (enough not to be hidden as "<5"); the police acknowledge one
    # and decline another.
    referrals = []
    for _ in range(6):
        _, accepted, referral = await reported_to_police(
            infra, services, hotline_report(jurisdiction=VILLAGE)
        )
        referrals.append((accepted["case_id"], referral["referral_id"]))
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as http:
        for (case_id, referral_id), answer in zip(
            referrals[:2],
            ({"action": "acknowledge"}, {"action": "decline", "reason": "handled_by_another_station"}),
            strict=True,
        ):
            sent = await http.post(
                f"/v1/referrals/{referral_id}/responses", headers=officer("police"), json=answer
            )
            assert sent.status_code == 200, sent.text
            await _on_the_ledger(services, case_id, "referral.status_changed")
    for case_id, _ in referrals:
        await _on_the_ledger(services, case_id, "case.assessed")
    # The city's joint meeting gives education two action items for the declined case: one done in time.
    director = token(Role.supervisor, "director-bulletin", jurisdiction="1404")
    today = datetime.now(BEIJING).date()
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as http:
        meeting = await http.post(
            "/v1/meetings",
            json={"jurisdiction": CITY, "held_on": today.isoformat(), "present": ["education", "police"]},
            headers=director,
        )
        assert meeting.status_code == 201, meeting.text
        meeting_id, declined_case = meeting.json()["meeting_id"], referrals[1][0]
        decided = await http.post(
            f"/v1/meetings/{meeting_id}/decisions",
            json={
                "case_id": declined_case,
                "decision": "assign_department",
                "note": "Education takes it on.",
            },
            headers=director,
        )
        assert decided.status_code == 201, decided.text
        for task in ("school_enrolment", "verify_situation"):
            given = await http.post(
                f"/v1/meetings/{meeting_id}/action-items",
                json={
                    "case_id": declined_case,
                    "agency": "education",
                    "task": task,
                    "due_on": (today + timedelta(days=3)).isoformat(),
                    "note": "By the end of the week.",
                },
                headers=director,
            )
            assert given.status_code == 201, given.text
        done = await http.post(
            f"/v1/action-items/{given.json()['action_item_id']}/done",
            json={"note": "Done."},
            headers=officer("education"),
        )
        assert done.status_code == 200, done.text
    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        await eventually(
            lambda: http.get(
                f"/v1/cases/{declined_case}/timeline", headers=token(Role.auditor, "inspector-9")
            ),
            lambda a: (
                a.status_code == 200
                and len([s for s in a.json() if s["event_type"] == "meeting.action_item"]) == 3
            ),
        )

    month = datetime.now(BEIJING).strftime("%Y-%m")
    written = {}
    for lang in ("zh-CN", "en"):
        made = _cpnet(
            services,
            "bulletin",
            "--territory",
            "1404",
            "--period",
            month,
            "--lang",
            lang,
            "--out",
            str(tmp_path),
        )
        assert made.returncode == 0, made.stderr
        written[lang] = tmp_path / f"bulletin-{CITY}-{month}-{lang}"

    # The PDF: its first page drawn, its title in Chinese on it, page numbers at the foot.
    pdf = pypdfium2.PdfDocument(written["zh-CN"].with_suffix(".pdf"))
    first = pdf[0].get_textpage().get_text_range()
    assert "长治市未成年人保护工作定期通报" in first and "第 1 页" in first
    image = pdf[0].render(scale=1).to_pil()
    assert image.width > 500 and len(set(image.convert("L").getdata())) > 2, (
        "a page with something drawn on it"
    )
    assert (
        "Periodic bulletin on child protection: Changzhi"
        in pypdfium2.PdfDocument(written["en"].with_suffix(".pdf"))[0].get_textpage().get_text_range()
    )

    # The XLSX opens; this test counts every figure again from the ledger's own entries.
    xlsx = written["zh-CN"].with_suffix(".xlsx")
    book = load_workbook(xlsx)
    about = {row[0]: row[2] for row in book["About"].iter_rows(values_only=True)}
    heads = json.loads(about["ledger_heads"])
    as_of = datetime.fromisoformat(about["as_of"])
    expected = await _recount(infra.database_url, heads, month, as_of)
    lang = languages(load_territory())["zh_CN"]
    sheets = [name for name in book.sheetnames if name != "About"]
    assert len(sheets) == len(expected) == 10
    compared = 0
    for name, (table, rows, columns, cells) in zip(sheets, expected, strict=True):
        grid = [list(r) for r in book[name].iter_rows(values_only=True)]
        assert grid[0][1:] == [_column(lang, table, c) for c in columns], name
        assert [r[0] for r in grid[1:]] == [_row(lang, table, r) for r in rows], name
        for i, row in enumerate(rows, start=1):
            for j, column in enumerate(columns, start=1):
                assert grid[i][j] == _printed(cells.get((row, column))), (name, row, column)
                compared += 1
    assert compared > 300
    hotline = sheets[0]
    wuxiang_column = 1 + [c.value for c in book[hotline][1]].index("武乡县")
    assert book[hotline].cell(2, 1).value == "热线"
    assert book[hotline].cell(2, wuxiang_column).value >= 6, "Wuxiang's column holds the six reports"

    confirmed = _cpnet(services, "bulletin", "verify", str(xlsx))
    assert confirmed.returncode == 0, confirmed.stderr
    assert confirmed.stdout.startswith("bulletin confirmed: every figure recounted from")

    # Someone makes Wuxiang's hotline reports one more by hand: verify names that cell, and only it.
    wuxiang = book[hotline].cell(2, wuxiang_column)
    wuxiang.value += 1
    book.save(xlsx)
    refused = _cpnet(services, "bulletin", "verify", str(xlsx))
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert lines[0] == (
        f"differs: {hotline} / 热线 / 武乡县: the file says {wuxiang.value}, the ledger {wuxiang.value - 1}"
    )
    assert lines[1:] == ["bulletin NOT confirmed: 1 figure(s) differ from the ledger"]


# ------------------------------------------------------------------------------------------------
# The test's own count, from the ledger's JSON: nothing of services/audit/indicators.py.

COUNTED = (
    "case.reported",
    "case.assessed",
    "case.transferred",
    "referral.created",
    "referral.status_changed",
    "service.changed",
    "case.closed",
    "case.reopened",
    "meeting.action_item",
)


async def _entries(database_url: str, heads: dict) -> list[tuple[str, dict]]:
    url = make_url(database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        rows = await connection.fetch(
            "SELECT chain, position, event_key, record FROM audit.ledger WHERE event_type = ANY($1::text[])",
            list(COUNTED),
        )
    finally:
        await connection.close()
    kept = []
    for row in rows:
        size = heads.get(row["chain"], [0])[0]
        record = json.loads(row["record"])
        topic = TOPICS.get(record["topic"])
        # Only where the contract says it travels, and not a dead letter: no consumer acted on the rest.
        if row["position"] > size or record["topic"].endswith(".dlq") or topic is None:
            continue
        if record["event"].get("event_type") not in topic.event_types:
            continue
        try:  # what its contract refuses, no service acted on: nothing to count
            parse_event(json.dumps(record["event"]))
        except ValueError:
            continue
        kept.append((row["event_key"], record["event"]))
    return kept


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _month(text: str) -> tuple[datetime, datetime]:
    year, month = map(int, text.split("-"))
    start = datetime(year, month, 1, tzinfo=BEIJING)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=BEIJING)
    return start.astimezone(UTC), end.astimezone(UTC)


async def _recount(database_url: str, heads: dict, month: str, as_of: datetime) -> list:
    facts = []  # (case, at, key, what, values)
    for key, event in await _entries(database_url, heads):
        p, case = event["payload"], event["case_id"]
        kind = event["event_type"]
        if kind == "case.reported":
            facts.append((case, _moment(p["reported_at"]), key, "reported", p))
        elif kind == "case.assessed":
            at = _moment(event["occurred_at"])
            facts.append((case, at, key, "graded", p))
            stage = {"needs_assessment": "needs_assessed", "plan": "planned"}.get(p["stage"])
            if stage:
                facts.append((case, at, key, stage, p))
        elif kind == "case.transferred":
            facts.append((case, _moment(p["transferred_at"]), key, "transferred", p))
        elif kind == "referral.created":
            facts.append((case, _moment(event["occurred_at"]), key, "referred", p))
        elif kind == "referral.status_changed":
            facts.append((case, _moment(p["changed_at"]), key, "referral_changed", p))
        elif kind == "service.changed":
            facts.append((case, _moment(p["changed_at"]), key, "service_changed", p))
        elif kind == "case.closed":
            facts.append((case, _moment(p["closed_at"]), key, "closed", p))
        elif kind == "case.reopened":
            facts.append((case, _moment(p["reopened_at"]), key, "reopened", p))
        elif kind == "meeting.action_item":
            facts.append((case, _moment(p["changed_at"]), key, "action_item", p))
    territory = load_territory()
    counties = [c.code for c in territory.children(CITY)]
    start, end = _month(month)
    end = min(end, as_of)
    previous_start, previous_end = _month(
        (datetime(int(month[:4]), int(month[5:]), 1) - timedelta(days=1)).strftime("%Y-%m")
    )
    now = _Count([f for f in facts if f[1] < end], start, end)
    then = _Count([f for f in facts if f[1] < previous_end], previous_start, previous_end)
    columns = {c: now.column(lambda place, c=c: place[:6] == c[:6]) for c in counties}
    columns["total"] = now.column(lambda place: place.startswith("1404"))
    columns["previous"] = then.column(lambda place: place.startswith("1404"))
    names = [*counties, "total", "previous"]

    tables = []
    channels = [
        "hotline",
        "school",
        "hospital",
        "village_committee",
        "community",
        "police",
        "volunteer",
        "relative",
        "neighbour",
        "online",
        "self",
        "screening",
    ]
    for key, rows in (
        ("reports_by_channel", channels),
        ("new_cases_by_grade", ["red", "orange", "blue", "not_graded"]),
        (
            "new_cases_by_category",
            ["street", "no_guardian", "abuse", "left_behind", "trafficked", "illness_disability"],
        ),
        ("new_cases_by_age", ["0-5", "6-11", "12-14", "15-17", "unknown"]),
        (
            "response_hours",
            ["graded", "police_acknowledged", "needs_assessed", "planned", "service_delivered"],
        ),
        ("overdue_at_end", ["referrals", "services"]),
        ("closures_by_reason", sorted({r for col in columns.values() for r in col["closures_by_reason"]})),
        ("reported_again", ["reports", "reported_again_90_days"]),
        (
            "data_quality",
            ["red_without_home_visit_72h", "not_graded_after_24h", "no_age", "open_cases", "quality_score"],
        ),
    ):
        cells = {(r, c): columns[c][key].get(r, 0) for r in rows for c in names}
        tables.append((key, rows, names, cells))
    departments = now.departments(lambda place: place.startswith("1404"))
    agencies = [
        a
        for a in (
            "police",
            "education",
            "legal_aid",
            "civil_affairs",
            "health",
            "womens_federation",
            "youth_league",
            "procuratorate",
            "court",
            "social_work",
        )
        if a in departments
    ]
    measures = [
        "received",
        "acknowledged_in_time",
        "declined",
        "done",
        "median_hours_to_acknowledge",
        "action_items",
        "action_items_done_in_time",
    ]
    tables.append(
        ("departments", agencies, measures, {(a, m): departments[a][m] for a in agencies for m in measures})
    )
    return tables


class _Count:
    def __init__(self, facts: list, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.cases: dict[str, list] = defaultdict(list)
        for fact in sorted(facts, key=lambda f: (f[1], f[2], f[3])):
            self.cases[fact[0]].append(fact)

    def place(self, case: str) -> str | None:
        places = [f[4]["jurisdiction"] for f in self.cases[case] if f[3] in ("reported", "transferred")]
        return places[-1] if places else None

    def first(self, case: str, what: str):
        return next((f for f in self.cases[case] if f[3] == what), None)

    def column(self, inside) -> dict:
        within = lambda place: place is not None and inside(place)  # noqa: E731
        start, end = self.start, self.end
        reports = [
            f
            for facts in self.cases.values()
            for f in facts
            if f[3] == "reported" and start <= f[1] < end and within(f[4]["jurisdiction"])
        ]
        new = [
            case
            for case in self.cases
            if self.first(case, "reported")
            and start <= self.first(case, "reported")[1] < end
            and within(self.place(case))
        ]
        out: dict[str, dict] = defaultdict(lambda: defaultdict(int))
        for f in reports:
            out["reports_by_channel"][f[4]["channel"]] += 1
        for case in new:
            graded = self.first(case, "graded")
            out["new_cases_by_grade"][graded[4]["risk_level"] if graded else "not_graded"] += 1
            report = self.first(case, "reported")[4]
            for category in report["categories"]:
                out["new_cases_by_category"][category] += 1
            age = report["age_years"]
            band = (
                "unknown"
                if age is None
                else "0-5"
                if age < 6
                else "6-11"
                if age < 12
                else "12-14"
                if age < 15
                else "15-17"
            )
            out["new_cases_by_age"][band] += 1
        waits = defaultdict(list)
        for case in new:
            opened = self.first(case, "reported")[1]
            for what in ("graded", "needs_assessed", "planned"):
                if self.first(case, what):
                    waits[what].append(max(self.first(case, what)[1], opened) - opened)
            delivered = [
                f for f in self.cases[case] if f[3] == "service_changed" and f[4]["state"] == "delivered"
            ]
            if delivered:
                waits["service_delivered"].append(max(delivered[0][1], opened) - opened)
            for sent in self.cases[case]:
                p = sent[4]
                if (
                    sent[3] == "referred"
                    and p["agency"] == "police"
                    and p["emergency"]
                    and start <= sent[1] < end
                ):
                    answers = [
                        f
                        for f in self.cases[case]
                        if f[3] == "referral_changed"
                        and f[4]["referral_id"] == p["referral_id"]
                        and f[4]["state"] != "created"
                    ]
                    if answers:
                        waits["police_acknowledged"].append(max(answers[0][1], sent[1]) - sent[1])
        for row in ("graded", "police_acknowledged", "needs_assessed", "planned", "service_delivered"):
            hours = [w.total_seconds() / 3600 for w in waits[row]]
            out["response_hours"][row] = (
                "median",
                round(statistics.median(hours), 1) if hours else None,
                len(hours),
            )
        for case, facts in self.cases.items():
            if not within(self.place(case)):
                continue
            answered = {
                f[4]["referral_id"]
                for f in facts
                if f[3] == "referral_changed" and f[4]["state"] != "created"
            }
            out["overdue_at_end"]["referrals"] += sum(
                1
                for f in facts
                if f[3] == "referred"
                and _moment(f[4]["ack_due_at"]) < end
                and f[4]["referral_id"] not in answered
            )
            last = {f[4]["service_id"]: f[4] for f in facts if f[3] == "service_changed"}
            for service in last.values():
                due = datetime.fromisoformat(service["due_on"]).replace(tzinfo=BEIJING) + timedelta(days=1)
                if service["state"] in ("planned", "accepted", "in_progress") and due < end:
                    out["overdue_at_end"]["services"] += 1
            for f in facts:
                if f[3] == "closed" and start <= f[1] < end:
                    out["closures_by_reason"][f[4]["reason"]] += 1
        # A child's reports in the record's order (a moment, then the entry's key): a report is one again
        # when the one before it came within 90 days.
        children = defaultdict(list)
        every = sorted((f for facts in self.cases.values() for f in facts), key=lambda f: (f[1], f[2], f[3]))
        for f in every:
            if f[3] == "reported" and f[4].get("child_ref"):
                children[f[4]["child_ref"]].append(f)
        out["reported_again"]["reports"] = len(reports)
        again = 0
        for f in reports:
            mine = children.get(f[4].get("child_ref"), [])
            place = mine.index(f) if f in mine else 0
            again += place > 0 and mine[place - 1][1] >= f[1] - timedelta(days=90)
        out["reported_again"]["reported_again_90_days"] = again
        # What the open cases' records lack at the end, and the share that lack nothing.
        lacking, open_cases = defaultdict(int), 0
        for case, facts in self.cases.items():
            ends = [f[3] for f in facts if f[3] in ("closed", "reopened")]
            if not within(self.place(case)) or not self.first(case, "reported") or ends[-1:] == ["closed"]:
                continue
            open_cases += 1
            wrong = set()
            red = next((f for f in facts if f[3] == "graded" and f[4]["risk_level"] == "red"), None)
            visit = self.first(case, "needs_assessed")
            if (
                red
                and red[1] + timedelta(hours=72) <= end
                and not (visit and visit[1] <= red[1] + timedelta(hours=72))
            ):
                wrong.add("red_without_home_visit_72h")
            if self.first(case, "reported")[1] + timedelta(hours=24) <= end and not self.first(
                case, "graded"
            ):
                wrong.add("not_graded_after_24h")
            if self.first(case, "reported")[4]["age_years"] is None:
                wrong.add("no_age")
            for rule in wrong:
                lacking[rule] += 1
            lacking["clean"] += not wrong
        for rule in ("red_without_home_visit_72h", "not_graded_after_24h", "no_age"):
            out["data_quality"][rule] = lacking[rule]
        out["data_quality"]["open_cases"] = open_cases
        score = round(100 * lacking["clean"] / open_cases, 1) if open_cases else None
        out["data_quality"]["quality_score"] = ("median", score, open_cases)
        return out

    def departments(self, inside) -> dict:
        rows: dict[str, dict] = {}
        for case, facts in self.cases.items():
            place = self.place(case)
            if place is None or not inside(place):
                continue
            for sent in (f for f in facts if f[3] == "referred" and self.start <= f[1] < self.end):
                p = sent[4]
                row = rows.setdefault(p["agency"], _department())
                row["received"] += 1
                changes = [
                    f for f in facts if f[3] == "referral_changed" and f[4]["referral_id"] == p["referral_id"]
                ]
                answer = next((f for f in changes if f[4]["state"] != "created"), None)
                if answer:
                    row["waits"].append((max(answer[1], sent[1]) - sent[1]).total_seconds() / 3600)
                    if answer[1] <= _moment(p["ack_due_at"]) and answer[4]["state"] != "declined":
                        row["acknowledged_in_time"] += 1
                states = {f[4]["state"] for f in changes}
                row["declined"] += "declined" in states
                row["done"] += "done" in states
            # A joint meeting's action items given in the month; done in time: by the end of the day due
            # (China Standard Time).
            items = [f for f in facts if f[3] == "action_item"]
            for given in (f for f in items if f[4]["state"] == "open" and self.start <= f[1] < self.end):
                row = rows.setdefault(given[4]["agency"], _department())
                row["action_items"] += 1
                due_day = datetime.fromisoformat(given[4]["due_on"]).date() + timedelta(days=1)
                deadline = datetime.combine(due_day, datetime.min.time(), BEIJING)
                row["action_items_done_in_time"] += any(
                    f[4]["action_item_id"] == given[4]["action_item_id"]
                    and f[4]["state"] == "done"
                    and f[1] <= deadline
                    for f in items
                )
        for row in rows.values():
            waits = row.pop("waits")
            row["median_hours_to_acknowledge"] = (
                "median",
                round(statistics.median(waits), 1) if waits else None,
                len(waits),
            )
        return rows


def _department() -> dict:
    return {
        "received": 0,
        "acknowledged_in_time": 0,
        "declined": 0,
        "done": 0,
        "waits": [],
        "action_items": 0,
        "action_items_done_in_time": 0,
    }


def _printed(value) -> object:
    """A figure as a published bulletin prints it: 1–4 as "<5", a median of fewer than five cases not
    at all."""
    if isinstance(value, tuple):
        _, median, cases = value
        return "–" if median is None or cases < 5 else float(median)
    value = value or 0
    return "<5" if 0 < value < 5 else value


def _row(lang, table: str, row: str) -> str:
    kinds = {
        "reports_by_channel": "channel",
        "new_cases_by_grade": "risk_level",
        "new_cases_by_category": "category",
        "closures_by_reason": "reason",
        "departments": "agency",
    }
    if table in kinds and row != "not_graded":
        return lang.label(kinds[table], row)
    kind = {
        "new_cases_by_grade": "grade",
        "new_cases_by_age": "age_band",
        "response_hours": "response",
        "overdue_at_end": "overdue",
        "reported_again": "repeat",
        "data_quality": "quality",
    }[table]
    return lang.gettext(f"bulletin:{kind}:{row}")


def _column(lang, table: str, column: str) -> str:
    if table == "departments":
        return lang.gettext(f"bulletin:measure:{column}")
    if column in ("total", "previous"):
        return lang.gettext(f"bulletin:column:{column}")
    return load_territory().node(column).name("zh-CN")
