"""What a list's export holds, in the person's language: the board's cases, an agency's referrals and the
services escalated to a supervisor, as tables of the columns the page shows that carry no personal data
(codes as words); the children's details of chosen cases; and the password-protected 7z archive
(AES-256, its file names encrypted too) such details leave in. Pure but for the archive's bytes."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import py7zr

from services.console.i18n import Language
from services.console.spreadsheets import Table
from shared.contracts.vocabulary import AccessPurpose

# The most rows a list's export holds; more are left out, and the page and the file say so.
MAX_ROWS = 5000
# The most children one export of details holds: intake's limit for one request.
MAX_CHILDREN = 1000
MIN_PASSWORD = 12
# A list's purpose is to recognise one's cases on it; details that leave the system need another.
EXPORT_PURPOSES = tuple(p for p in AccessPurpose if p is not AccessPurpose.worklist)
SEVEN_ZIP = "application/x-7z-compressed"


# A column of a list's export: its header (a catalog message) and its cell, in words, from a row.
Column = tuple[str, Callable[[Language, Mapping[str, Any]], Any]]


def _yes(lang: Language, value: Any) -> str:
    return lang.gettext("export:yes") if value else ""


def _number(lang: Language, row: Mapping[str, Any]) -> str:
    return row.get("case_number") or lang.gettext("Not numbered yet")


def _coded(kind: str, field: str) -> Callable[[Language, Mapping[str, Any]], str]:
    return lambda lang, row: lang.label(kind, row.get(field))


def _place(field: str) -> Callable[[Language, Mapping[str, Any]], str]:
    return lambda lang, row: lang.place(row.get(field))


def _table(lang: Language, title: str, columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> Table:
    return Table(
        lang.gettext(title),
        [lang.gettext(header) for header, _ in columns],
        [[cell(lang, row) for _, cell in columns] for row in rows],
    )


def _owner(names: Mapping[str, str]) -> Callable[[Language, Mapping[str, Any]], str]:
    def owner(lang: Language, case: Mapping[str, Any]) -> str:
        subject = case["owner"]["caseworker"]
        return names.get(subject, subject) if subject else lang.gettext("Unassigned")

    return owner


def _due_kind(lang: Language, case: Mapping[str, Any]) -> str:
    return lang.label("due", case.get("next_due_kind")) if case.get("next_due_at") else ""


def _when(field: str) -> Callable[[Language, Mapping[str, Any]], str]:
    return lambda lang, row: lang.when(row[field]) if row.get(field) else ""


def board_table(lang: Language, cases: Iterable[Mapping[str, Any]], names: Mapping[str, str]) -> Table:
    """The board's cases: number, grade, emergency, village, categories, stage, owner, what is due next."""
    columns: list[Column] = [
        ("Case number", _number),
        ("Grade", _coded("risk_level", "risk_level")),
        ("In immediate danger", lambda lang, case: _yes(lang, case.get("emergency"))),
        ("Village", _place("jurisdiction")),
        ("Categories", lambda lang, case: lang.labels("category", case.get("categories") or [])),
        ("Stage", _coded("stage", "stage")),
        ("Owner", _owner(names)),
        ("Next due", _due_kind),
        ("export:due_at", _when("next_due_at")),
        ("export:overdue", lambda lang, case: _yes(lang, case.get("next_due_at") and case.get("overdue"))),
    ]
    return _table(lang, "Board", columns, cases)


def _asked(lang: Language, referral: Mapping[str, Any]) -> str:
    if referral.get("needs"):
        return lang.labels("need", referral["needs"])
    return lang.labels("category", referral.get("categories") or [])


def inbox_table(lang: Language, referrals: Iterable[Mapping[str, Any]]) -> Table:
    """An agency's referrals: number, grade, village, emergency, what is asked, when due, state."""
    columns: list[Column] = [
        ("Case number", _number),
        ("Grade", _coded("risk_level", "risk_level")),
        ("Village", _place("jurisdiction")),
        ("In immediate danger", lambda lang, r: _yes(lang, r.get("emergency"))),
        ("Asked of us", _asked),
        ("Answer due", _when("ack_due_at")),
        ("export:overdue", lambda lang, r: _yes(lang, r.get("overdue"))),
        ("State", _coded("referral_state", "state")),
    ]
    return _table(lang, "Referrals to my agency", columns, referrals)


def escalated_services_table(lang: Language, services: Iterable[Mapping[str, Any]]) -> Table:
    """The services escalated to a supervisor: the case, the service and its provider, due, delivered,
    state, and how often and how far it climbed."""
    columns: list[Column] = [
        ("Case number", _number),
        ("Grade", _coded("risk_level", "risk_level")),
        ("Village", _place("jurisdiction")),
        ("Service", _coded("service_kind", "kind")),
        ("Provider", lambda lang, s: s.get("provider_name")),
        ("export:provider_kind", _coded("provider_kind", "provider_kind")),
        ("Due", lambda lang, s: lang.day(s["due_on"]) if s.get("due_on") else ""),
        ("Units delivered", lambda lang, s: s.get("units_delivered")),
        ("export:units_planned", lambda lang, s: s.get("units_planned")),
        ("State", _coded("service_state", "state")),
        ("Escalated", lambda lang, s: s.get("escalations")),
        ("export:now_at", _place("holder")),
    ]
    return _table(lang, "Overdue services escalated to us", columns, services)


def quality_table(lang: Language, cases: Iterable[Mapping[str, Any]]) -> Table:
    """The cases whose record lacks what a rule of data quality asks: the case, where, what, since when."""
    columns: list[Column] = [
        ("Case number", _number),
        ("Where", _place("jurisdiction")),
        ("What is lacking", lambda lang, c: lang.labels("bulletin:quality", c.get("rules") or ())),
        ("Lacking since", lambda lang, c: lang.when(c.get("since"))),
    ]
    return _table(lang, "Cases to correct", columns, cases)


def children_table(lang: Language, export: Mapping[str, Any]) -> Table:
    """The children's details intake answered: the case, where, and each field the person may see."""
    _ = lang.gettext
    shown = list(export["shown"])
    rows = []
    for child in export["children"]:
        identity = child["identity"]
        values = [
            lang.label("sex", identity.get(f)) if f == "sex" and identity.get(f) else identity.get(f)
            for f in shown
        ]
        rows.append([_number(lang, child), lang.place(child["jurisdiction"]), *values])
    header = [_("Case number"), _("Village"), *(lang.label("personal", f) for f in shown)]
    return Table(_("export:children"), header, rows)


@dataclass(frozen=True)
class About:
    """What an export says of itself: who made it, when, why, and what it holds or left out."""

    made_by: str
    made_at: datetime
    rows: int
    found: int
    purpose: str | None = None
    left_out: int = 0


def about_table(lang: Language, about: About) -> Table:
    """A sheet of the export's own facts, so a file found later says where it came from."""
    _ = lang.gettext
    rows = [
        [_("export:made_by"), about.made_by],
        [_("export:made_at"), lang.when(about.made_at)],
        [_("export:rows"), about.rows],
    ]
    if about.purpose:
        rows.append([_("export:purpose"), lang.label("purpose", about.purpose)])
        rows.append([_("export:on_ledger"), _("export:on_ledger_words")])
    if about.found > about.rows + about.left_out:
        rows.append([_("export:capped"), capped_words(lang, about.rows, about.found)])
    if about.left_out:
        rows.append([_("export:left_out"), about.left_out])
    return Table(_("export:about"), [_("export:about"), ""], rows)


def capped_words(lang: Language, kept: int, found: int) -> str:
    return lang.gettext("export:capped_words") % {"kept": kept, "found": found}


def password_problem(password: str, again: str) -> str | None:
    """What is wrong with the archive's password as typed (twice): too short, or not the same."""
    if len(password) < MIN_PASSWORD:
        return "password_short"
    if password != again:
        return "password_differs"
    return None


def sealed_archive(files: Sequence[tuple[str, bytes]], password: str) -> bytes:
    """The files in a 7z archive under the password: AES-256 over the contents and over the header,
    so without the password not even the files' names can be read."""
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", password=password, header_encryption=True) as archive:
        for name, body in files:
            archive.writestr(body, name)
    return out.getvalue()
