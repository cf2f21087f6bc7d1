"""`cpnet bulletin`: a territory's periodic bulletin (定期通报) as PDF and XLSX, and `cpnet bulletin
verify`, which recounts a bulletin's figures from the ledger and names any that differ."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from shared.settings import get_settings

bulletin_app = typer.Typer(
    help="Periodic bulletins (定期通报): make one for a territory and month, or verify one by the ledger.",
    invoke_without_command=True,
)


def _node(territory: str) -> tuple[str, tuple[str, ...]]:
    """The node a code (or its prefix) names, and its children's codes."""
    from shared.territory.registry import load_territory

    registry = load_territory(get_settings().territory_file)
    code = territory.ljust(12, "0")
    if not territory.isdigit() or code not in registry:
        raise ValueError(f"--territory {territory!r}: no such node in the territory file")
    return code, tuple(child.code for child in registry.children(code))


def _language(locale: str):
    from services.console.i18n import LOCALES, languages
    from shared.territory.registry import load_territory

    chosen = locale.replace("-", "_")
    if chosen not in LOCALES:
        raise ValueError(f"--lang {locale!r}: one of {', '.join(code.replace('_', '-') for code in LOCALES)}")
    return languages(load_territory(get_settings().territory_file))[chosen]


def make_bulletin(territory: str, period: str, locale: str, now: datetime | None = None):
    """The bulletin, its language: counted by the audit service's rules in one snapshot of its schema."""
    from cpnet.oneshot import audit_session
    from services.audit.bulletins import compute, snapshot
    from services.audit.indicators import Period

    node, children = _node(territory)
    month = Period.parse(period)
    lang = _language(locale)

    async def work(session, settings):
        await snapshot(session)
        return await compute(session, node, children, month, now or datetime.now(UTC))

    return audit_session(work), lang


@bulletin_app.callback()
def bulletin(
    ctx: typer.Context,
    territory: Annotated[
        str | None, typer.Option(help="the city's or a county's code, e.g. 1404 or 140428")
    ] = None,
    period: Annotated[str | None, typer.Option(help="the month, e.g. 2026-11")] = None,
    lang: Annotated[str, typer.Option(help="zh-CN | en")] = "zh-CN",
    out: Annotated[Path, typer.Option(help="the folder the PDF and XLSX are written to")] = Path("."),
) -> None:
    """Count a territory's month from the ledger's events and write its bulletin as PDF and XLSX."""
    from cpnet.oneshot import fail
    from services.console.bulletins import pdf, workbook

    if ctx.invoked_subcommand is not None:
        return
    if not territory or not period:
        fail("--territory and --period are both needed (or: cpnet bulletin verify FILE)")
    try:
        made, language = make_bulletin(territory, period, lang)
    except ValueError as exc:
        fail(str(exc))
    out.mkdir(parents=True, exist_ok=True)
    stem = f"bulletin-{made.figures.node}-{made.figures.period}-{language.html_lang}"
    (out / f"{stem}.xlsx").write_bytes(workbook(language, made))
    (out / f"{stem}.pdf").write_bytes(pdf(language, made))
    typer.echo(
        f"bulletin of {made.figures.node} for {made.figures.period} as of {made.figures.as_of.isoformat()}: "
        f"{out / stem}.pdf and .xlsx (ledger: {made.heads.size} entries, digest {made.heads.digest})"
    )


@bulletin_app.command("verify")
def verify(file: Annotated[Path, typer.Argument(help="a bulletin's XLSX")]) -> None:
    """Recount every figure of a bulletin from the ledger it names; name each one that differs."""
    from cpnet.oneshot import audit_session, fail
    from services.audit.bulletins import LedgerDiffers, recount
    from services.console.bulletins import differences, read_workbook

    try:
        read = read_workbook(file)
        _, children = _node(read.node)
        language = _language(read.locale)
    except (OSError, ValueError) as exc:
        fail(str(exc))

    async def work(session, settings):
        return await recount(session, read.heads, read.node, children, read.period, read.as_of)

    try:
        expected = audit_session(work)
    except LedgerDiffers as exc:
        fail(f"the ledger held is not the one the bulletin counted: {exc}")
    found = differences(language, expected, read)
    if found:
        for line in found:
            typer.echo(f"differs: {line}", err=True)
        typer.echo(f"bulletin NOT confirmed: {len(found)} figure(s) differ from the ledger", err=True)
        raise typer.Exit(code=2)
    typer.echo(f"bulletin confirmed: every figure recounted from {read.heads.size} ledger entries")


@bulletin_app.command("backfill")
def backfill_happenings() -> None:
    """Count the ledger's entries appended before it counted them as it went (once, after the upgrade
    that added the happenings; running it again adds nothing)."""
    from cpnet.oneshot import audit_session
    from services.audit.bulletins import backfill

    after, added = 0, 0
    while True:
        last, made = audit_session(lambda session, settings, after=after: backfill(session, after))
        added += made
        if last == after:
            break
        after = last
    typer.echo(f"happenings added: {added} (ledger read up to entry {after})")
