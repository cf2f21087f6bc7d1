"""What one-shot commands share: an error in one line, and one transaction on the audit schema."""

from __future__ import annotations

import asyncio

import typer

from shared.settings import get_settings


def fail(message: str) -> None:
    typer.echo(f"cpnet: error: {message}", err=True)
    raise typer.Exit(code=1)


def audit_session(work):
    """Run `work(session, settings)` in one transaction on the audit schema."""
    from services.audit.settings import AuditSettings
    from shared.db.engine import make_engine, make_session_factory
    from shared.health import require_database

    settings = get_settings().of_kind(AuditSettings)
    asyncio.run(require_database(settings.database_url))

    async def go():
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            async with make_session_factory(engine).begin() as session:
                return await work(session, settings)
        finally:
            await engine.dispose()

    return asyncio.run(go())
