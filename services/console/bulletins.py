"""A periodic bulletin (定期通报) as files, in the reader's language: an XLSX (a sheet a table, and
one that says what was counted: the territory, the period, the moment, and the ledger's heads) and a
PDF (the same tables with a chart, Chinese fonts, page numbers). The figures come from the audit
service (services/audit/bulletins.py); a bulletin leaves its territory, so counts of 1–4 children
are printed "<5".

`read_workbook` reads a bulletin's XLSX back — what it says it counted and every cell as printed —
for `cpnet bulletin verify`, which recounts the ledger and names each cell that differs.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF, FontFace
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font

from services.audit.bulletins import Bulletin, Heads
from services.audit.indicators import TOTAL, Figures, Period, Table, figures_from_dict
from services.console.i18n import Language
from services.console.spreadsheets import as_text

# Noto Sans CJK (Debian's fonts-noto-cjk): its collection's Simplified Chinese face writes both languages.
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_BOLD = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
CJK_FACE = 2
ABOUT = "About"  # the first sheet's name, in every language (verify finds it)

# The words of a table's rows, by the vocabulary that names them.
_ROW_LABELS = {
    "channel": "channel",
    "grade": "risk_level",
    "category": "category",
    "agency": "agency",
    "reason": "reason",
}


def full_name(lang: Language, code: str) -> str:
    """A node named with its ancestors up to the city: 长治市城区, "Chengqu District, Changzhi"."""
    if lang.territory is None or code not in lang.territory:
        return code
    names = [node.name(lang.html_lang) for node in lang.territory.chain(code)]
    return "".join(reversed(names)) if lang.locale.startswith("zh") else ", ".join(names)


def title(lang: Language, figures: Figures) -> str:
    return lang.gettext("bulletin:title").format(
        place=full_name(lang, figures.node),
        period=lang.gettext("bulletin:month").format(year=figures.period.year, month=figures.period.month),
    )


def row_words(lang: Language, table: Table, row: str) -> str:
    kind = _ROW_LABELS.get(table.row_kind)
    if kind and row != "not_graded":
        return lang.label(kind, row)
    return lang.gettext(f"bulletin:{table.row_kind}:{row}")


def column_words(lang: Language, table: Table, column: str) -> str:
    if table.column_kind == "measure":
        return lang.gettext(f"bulletin:measure:{column}")
    if column in (TOTAL, "previous"):
        return lang.gettext(f"bulletin:column:{column}")
    return lang.territory.node(column).name(lang.html_lang) if lang.territory else column


def sheet_title(words: str) -> str:
    """A table's title as a sheet's name: at most 31 characters, none of those a name may not hold."""
    return re.sub(r"[\[\]:*?/\\]", " ", words).strip()[:31]


def printed(table: Table) -> Iterator[tuple[str, str, str]]:
    """Each cell as the bulletin prints it: (row, column, text)."""
    for row in table.rows:
        for column in table.columns:
            yield row, column, table.cell(row, column).shown(suppress=True)


def _value(text: str) -> int | float | str:
    """A printed figure as the spreadsheet holds it: a number where it is one."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def answer_as_bulletin(data: dict) -> Bulletin:
    """The audit service's answer (GET /v1/bulletins/{node}/{period}) as the bulletin it describes."""
    heads = Heads({chain: (int(size), str(hash_)) for chain, (size, hash_) in data["ledger_heads"].items()})
    return Bulletin(figures_from_dict(data), heads, datetime.fromisoformat(data["computed_at"]))


def workbook(lang: Language, bulletin: Bulletin) -> bytes:
    _ = lang.gettext
    figures = bulletin.figures
    book = Workbook()
    about = book.active
    about.title = ABOUT
    for key, value in (
        ("title", title(lang, figures)),
        ("territory", figures.node),
        ("period", str(figures.period)),
        ("as_of", figures.as_of.isoformat()),
        ("language", lang.locale),
        ("ledger_entries", bulletin.heads.size),
        ("ledger_digest", bulletin.heads.digest),
        ("ledger_heads", bulletin.heads.as_json()),
    ):
        about.append([key, _(f"bulletin:about:{key}"), as_text(value)])
    about.column_dimensions["B"].width = 28
    bold = Font(bold=True)
    for table in figures.tables:
        sheet = book.create_sheet(sheet_title(_(f"bulletin:table:{table.key}")))
        sheet.append(["", *(column_words(lang, table, c) for c in table.columns)])
        cells = {(row, column): text for row, column, text in printed(table)}
        for row in table.rows:
            sheet.append([row_words(lang, table, row), *(_value(cells[(row, c)]) for c in table.columns)])
        for cell in sheet[1]:
            cell.font = bold
        sheet.column_dimensions["A"].width = 30
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class ReadBack:
    """What a bulletin's XLSX says it counted, and its tables' cells as written (by sheet index)."""

    node: str
    period: Period
    as_of: datetime
    locale: str
    heads: Heads
    sheets: list[tuple[str, list[list[object]]]]


def read_workbook(path: Path) -> ReadBack:
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 (openpyxl raises many kinds for a file that is no workbook)
        raise ValueError(f"{path.name}: not a bulletin's XLSX ({type(exc).__name__})") from None
    if ABOUT not in book.sheetnames:
        raise ValueError(f"{path.name}: no {ABOUT!r} sheet: not a bulletin")
    about = {str(r[0]): r[2] for r in book[ABOUT].iter_rows(values_only=True) if r and r[0]}
    try:
        read = ReadBack(
            node=str(about["territory"]),
            period=Period.parse(str(about["period"])),
            as_of=datetime.fromisoformat(str(about["as_of"])),
            locale=str(about["language"]),
            heads=Heads.from_json(str(about["ledger_heads"])),
            sheets=[
                (name, [list(r) for r in book[name].iter_rows(values_only=True)])
                for name in book.sheetnames
                if name != ABOUT
            ],
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{path.name}: its {ABOUT!r} sheet is incomplete ({exc})") from None
    return read


def differences(lang: Language, expected: Figures, read: ReadBack) -> list[str]:
    """Every cell of the file that is not what the ledger gives, named by its sheet, row and column."""
    found = []
    if len(read.sheets) != len(expected.tables):
        found.append(f"the file has {len(read.sheets)} tables, the ledger's bulletin {len(expected.tables)}")
    for (name, rows), table in zip(read.sheets, expected.tables, strict=False):
        cells = {(r, c): t for r, c, t in printed(table)}
        for i, row in enumerate(table.rows, start=1):
            written = rows[i] if i < len(rows) else []
            for j, column in enumerate(table.columns, start=1):
                have = written[j] if j < len(written) else None
                want = _value(cells[(row, column)])
                if have != want:
                    found.append(
                        f"{name} / {row_words(lang, table, row)} / {column_words(lang, table, column)}: "
                        f"the file says {have!r}, the ledger {want!r}"
                    )
    return found


class Paper(FPDF):
    """An A4 document in the person's language with Debian's Noto Sans CJK (Chinese and Latin alike), its
    heading and page numbers at each page's foot: a bulletin's, or a joint meeting's minutes."""

    def __init__(self, lang: Language, heading: str, orientation: str = "landscape") -> None:
        super().__init__(orientation=orientation, format="A4")
        self.lang, self.heading = lang, heading
        self.add_font("cjk", "", str(CJK_FONT), collection_font_number=CJK_FACE)
        self.add_font("cjk", "B", str(CJK_BOLD), collection_font_number=CJK_FACE)
        self.set_font("cjk", size=9)
        self.set_auto_page_break(auto=True, margin=15)
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("cjk", size=8)
        page = self.lang.gettext("bulletin:page").format(page=self.page_no(), pages="{nb}")
        self.cell(0, 8, f"{self.heading} · {page}", align="C")


def pdf(lang: Language, bulletin: Bulletin) -> bytes:
    _ = lang.gettext
    figures = bulletin.figures
    heading = title(lang, figures)
    doc = Paper(lang, heading)
    doc.add_page()
    doc.set_font("cjk", size=18)
    doc.cell(0, 12, heading, new_x="LMARGIN", new_y="NEXT")
    doc.set_font("cjk", size=9)
    doc.multi_cell(
        0,
        5,
        _("bulletin:counted").format(
            as_of=lang.when(figures.as_of), entries=bulletin.heads.size, digest=bulletin.heads.digest
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    doc.ln(2)
    _chart(doc, lang, figures.table("reports_by_channel"))
    for table in figures.tables:
        _pdf_table(doc, lang, table)
    return bytes(doc.output())


def _chart(doc: FPDF, lang: Language, table: Table) -> None:
    """Reports received by place: a bar a column (the node's children), the count beside it."""
    places = [c for c in table.columns if c not in (TOTAL, "previous")]
    totals = {c: sum(int(table.cell(r, c).value or 0) for r in table.rows) for c in places}
    doc.set_font("cjk", size=11)
    doc.cell(0, 8, lang.gettext("bulletin:chart:reports"), new_x="LMARGIN", new_y="NEXT")
    doc.set_font("cjk", size=8)
    most = max(totals.values(), default=0) or 1
    for place in places:
        count = totals[place]
        words = column_words(lang, table, place)
        doc.cell(45, 5, words)
        x, y = doc.get_x(), doc.get_y()
        doc.set_fill_color(70, 110, 160)
        width = 150 * count / most
        if width:
            doc.rect(x, y + 1, width, 3, style="F")
        doc.set_x(x + width + 2)
        doc.cell(20, 5, "<5" if 0 < count < 5 else str(count), new_x="LMARGIN", new_y="NEXT")
    doc.ln(3)


def _pdf_table(doc: FPDF, lang: Language, table: Table) -> None:
    if doc.will_page_break(30):  # a table's title is never left alone at a page's foot
        doc.add_page()
    doc.set_font("cjk", size=11)
    doc.cell(0, 8, lang.gettext(f"bulletin:table:{table.key}"), new_x="LMARGIN", new_y="NEXT")
    doc.set_font("cjk", size=8)
    if not table.rows:
        doc.cell(0, 6, lang.gettext("bulletin:nothing"), new_x="LMARGIN", new_y="NEXT")
        return
    cells = {(r, c): t for r, c, t in printed(table)}
    doc.set_fill_color(255, 255, 255)
    with doc.table(
        first_row_as_headings=True,
        headings_style=FontFace(emphasis="BOLD", fill_color=(225, 230, 238)),
        col_widths=(3, *(1 for _ in table.columns)),
        text_align=("LEFT", *("RIGHT" for _ in table.columns)),
        line_height=5,
    ) as out:
        heading = out.row()
        heading.cell("")
        for column in table.columns:
            heading.cell(column_words(lang, table, column))
        for row in table.rows:
            line = out.row()
            line.cell(row_words(lang, table, row))
            for column in table.columns:
                line.cell(cells[(row, column)])
    doc.ln(3)
