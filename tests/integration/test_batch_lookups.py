"""The lookups a batch makes (shared/db/rows.py any_of, in_rows) on the real database: they find
exactly the rows named, and are one statement whatever the batch's size, so PostgreSQL and asyncpg
prepare it once instead of once per length."""

from __future__ import annotations

import uuid

from sqlalchemy import Column, Integer, MetaData, Table, Text, event, select, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db.rows import any_of, in_rows


async def test_batch_lookups_find_exactly_the_rows_named_with_one_statement_for_every_size(infra) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    metadata = MetaData(schema=schema)
    things = Table(
        "things",
        metadata,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("source", Text, nullable=False),
        Column("number", Integer),
        Column("label", Text),
    )
    engine = create_async_engine(infra.database_url)
    statements: set[str] = set()
    ids = [uuid.uuid4() for _ in range(40)]
    rows = [
        {"id": i, "source": f"s{n % 3}", "number": n, "label": None if n % 5 == 0 else f"l{n}"}
        for n, i in enumerate(ids)
    ]
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            await conn.run_sync(metadata.create_all)
            await conn.execute(things.insert(), rows)

            @event.listens_for(conn.sync_connection, "before_cursor_execute")
            def seen(conn, cursor, statement, parameters, context, executemany) -> None:
                statements.add(statement)

            c = things.c
            for size in (1, 2, 7, 40):
                wanted = ids[:size] + [uuid.uuid4()]  # one that is not there
                found = (await conn.execute(select(c.id).where(any_of(c.id, wanted)))).scalars().all()
                assert sorted(found) == sorted(ids[:size])
            assert len(statements) == 1, statements

            statements.clear()
            for size in (1, 3, 12):
                named = [(r["source"], r["label"]) for r in rows[:size]] + [("s9", "nowhere")]
                found = await conn.execute(select(c.number).where(in_rows([c.source, c.label], named)))
                # A null never equals anything, as in an IN list: those rows are not found.
                assert sorted(found.scalars()) == [r["number"] for r in rows[:size] if r["label"] is not None]
            assert len(statements) == 1, statements
            assert (await conn.execute(select(c.id).where(any_of(c.id, [])))).all() == []
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()
