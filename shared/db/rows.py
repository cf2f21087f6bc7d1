"""Frozen dataclasses as table rows, whole rows written with one statement, and the rows a batch
names found with one statement whatever the batch's size."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, ClassVar, Self

from sqlalchemy import ColumnElement, Insert, Table, any_, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession


def row_of(record: Any) -> dict[str, Any]:
    """A dataclass's fields as the dict a bulk INSERT or UPDATE takes. Shallow, unlike
    dataclasses.asdict, whose deep copy of every UUID and datetime dominated a batch's profile;
    the records are frozen and their values are written, never changed."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


class TableRow:
    """A frozen dataclass that is one table row: read from a result row (or a mapping; columns it
    has no field for are left out, fields missing take their defaults), written as the dict a bulk
    statement takes. The fields named in SEQUENCES are tuples here and arrays in the table."""

    SEQUENCES: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def of_row(cls, row: Any) -> Self:
        values = row._mapping if hasattr(row, "_mapping") else row
        names = _field_names(cls)
        try:  # a row of the table has every field: a hot path (every row a batch loads)
            found = {name: values[name] for name in names}
        except KeyError:
            found = {name: values[name] for name in names if name in values}
        for name in cls.SEQUENCES:
            found[name] = tuple(found.get(name) or ())
        return cls(**found)

    def as_row(self) -> dict[str, Any]:
        row = row_of(self)
        for name in self.SEQUENCES:
            row[name] = list(row[name])
        return row


@functools.cache
def _upsert_statement(table: Table, columns: tuple[str, ...]) -> Insert:
    key = [c.name for c in table.primary_key.columns]
    statement = pg_insert(table)
    updated = {name: statement.excluded[name] for name in columns if name not in key}
    return statement.on_conflict_do_update(index_elements=key, set_=updated)


async def upsert_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    updated: Sequence[str] | None = None,
) -> None:
    """Write whole rows with one statement, inserting the new ones and overwriting the columns
    `updated` (by default every column of the rows but the primary key) of those already there.

    The statement is built once per table and set of columns: building `excluded` for a new
    INSERT populates its column collections, which was 5 % of a stage's profile per batch."""
    if rows:
        await session.execute(_upsert_statement(table, tuple(updated or rows[0])), rows)


async def locked(
    tx: AsyncSession, table: Table, *, order_by: ColumnElement, where: ColumnElement[bool]
) -> Sequence[Any]:
    """The rows `where` selects, locked (FOR UPDATE) in `order_by` order, in one statement: two
    transactions that share rows then wait for each other instead of deadlocking."""
    return (await tx.execute(select(table).where(where).order_by(order_by).with_for_update())).all()


async def locked_by(tx: AsyncSession, table: Table, key: ColumnElement, keys: Any) -> Sequence[Any]:
    """The rows whose `key` is one of `keys`, locked in key order (`locked`); none for no keys."""
    ids = sorted(set(keys))
    return await locked(tx, table, order_by=key, where=any_of(key, ids)) if ids else []


def any_of(column: ColumnElement, values: Any) -> ColumnElement[bool]:
    """`column = ANY(:values)`, the values bound as one array. Unlike `column.in_(values)` the
    statement's text is the same whatever the number of values, so SQLAlchemy compiles it once and
    asyncpg and PostgreSQL prepare and plan it once; an IN list is a new statement for each length,
    and a batch's lengths vary from one to hundreds (more than the prepared-statement caches hold)."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


def in_rows(columns: Sequence[ColumnElement], rows: Sequence[Sequence[Any]]) -> ColumnElement[bool]:
    """`(a, b, …) IN (rows)` as any_of does it: one array per column, unnested side by side."""
    arrays = [
        func.unnest(bindparam(None, [row[i] for row in rows], type_=ARRAY(column.type)))
        for i, column in enumerate(columns)
    ]
    return tuple_(*columns).in_(select(*arrays))
