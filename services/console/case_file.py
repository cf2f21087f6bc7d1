"""A case's file as a PDF (issue 24: "a case file printable as a PDF with its timeline, for a court or a
transfer"), in the reader's language: what the case is, the child's details, the reports with what was
said, every step of its timeline, and its records with the notes written with them. Pure: it is given
what the services answered (each read already on the access ledger with its purpose) and lays it out;
the console seals it in a password-protected archive before it leaves (views/case_file.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.console.bulletins import Paper
from services.console.history import Step
from services.console.i18n import Language


@dataclass(frozen=True)
class Made:
    """Who made the file, when and why: printed under its title."""

    by: str
    at: datetime
    purpose: str


def case_file_pdf(
    lang: Language,
    case: Mapping[str, Any],
    child: Mapping[str, Any],
    history: Sequence[Step],
    found: Mapping[str, Sequence[Mapping[str, Any]]],
    made: Made,
) -> bytes:
    _ = lang.gettext
    number = case.get("case_number") or _("Not numbered yet")
    heading = _("case_file:title").format(number=number)
    doc = Paper(lang, heading, orientation="portrait")
    doc.add_page()

    def line(text: str, size: int = 10, style: str = "") -> None:
        doc.set_font("cjk", style, size=size)
        doc.multi_cell(0, size * 0.6, text, new_x="LMARGIN", new_y="NEXT")

    def part(title: str) -> None:
        doc.ln(3)
        line(title, size=12, style="B")

    def field(name: str, value: str) -> None:
        line(f"{name}{_(': ')}{value}")

    line(heading, size=16)
    line(
        _("case_file:made").format(
            by=made.by, at=lang.when(made.at), purpose=lang.label("purpose", made.purpose)
        ),
        size=8,
    )
    part(_("The case"))
    field(_("Categories"), lang.labels("category", case.get("categories") or ()))
    field(_("Stage"), lang.label("stage", case.get("stage")))
    field(_("Territory"), lang.place(case.get("jurisdiction")))
    if case.get("closed_at"):
        field(
            _("Closed"), f"{lang.label('reason', case.get('closed_reason'))} · {lang.when(case['closed_at'])}"
        )
    part(_("The child's details"))
    for name, value in (child.get("identity") or {}).items():
        shown = lang.label("sex", value) if name == "sex" and value else value
        field(lang.label("personal", name), "—" if shown is None else str(shown))
    for report in child.get("reports") or ():
        line(f"{lang.when(report['received_at'])} · {lang.label('channel', report['channel'])}", style="B")
        if report.get("narrative"):
            line(report["narrative"])
    part(_("Timeline"))
    for step in history:
        who = f" · {step.who}" + (f" ({step.role})" if step.role else "") if step.who else ""
        line(f"{step.when} · {step.event}{who}", style="B")
        if step.what:
            line(step.what)
    part(_("Records and notes"))
    written = [
        *((r["occurred_at"], lang.label("record", r["kind"]), r.get("note")) for r in found["records"]),
        *((v["visited_at"], _("Visit"), v.get("note")) for v in found["visits"]),
        *((n["written_at"], lang.label("note_action", n["action"]), n["text"]) for n in found["notes"]),
        *((a["written_at"], lang.label("agency", a["agency"]), a["text"]) for a in found["answers"]),
        *(
            (n["written_at"], lang.label("note_action", n["action"]), n["text"])
            for n in found["identification_notes"]
        ),
    ]
    if not written:
        line(_("Nothing on the record yet."))
    for at, what, text in sorted(written, key=lambda w: datetime.fromisoformat(str(w[0]))):
        line(f"{lang.when(at)} · {what}", style="B")
        if text:
            line(text)
    return bytes(doc.output())


__all__ = ["Made", "case_file_pdf"]
