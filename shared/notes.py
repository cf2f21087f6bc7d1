"""A note: the free text a person writes with an action on a case. Personal data, so at most 4,000
characters, sealed at rest in the notes table of the service that owns the action, never on the bus."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from sqlalchemy import Column, DateTime, Index, LargeBinary, MetaData, Row, Table, Text, insert, select
from sqlalchemy.dialects.postgresql import UUID

from shared.crypto import FieldCipher
from shared.db.engine import Transaction
from shared.db.rows import row_of

NOTE_MAX_CHARS = 4000

NoteText = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=NOTE_MAX_CHARS)] | None,
    # A note of blanks is no note.
    AfterValidator(lambda text: text or None),
    Field(
        description=f"What you want on record, in your words (optional; at most {NOTE_MAX_CHARS} "
        "characters, trimmed). Kept encrypted; read back only by the roles allowed to, every "
        "read on the ledger"
    ),
]


def notes_table(metadata: MetaData) -> Table:
    """The notes of one service's actions, in its own schema: who wrote what with which action on which
    case (and which record of it), the text sealed by `seal`."""
    table = Table(
        "notes",
        metadata,
        Column("note_id", UUID(as_uuid=True), primary_key=True),
        Column("case_id", UUID(as_uuid=True), nullable=False),
        # The record the action made or answered, when it has one: a visit, an approval, a referral.
        Column("about", UUID(as_uuid=True)),
        Column("action", Text, nullable=False),  # a code: home_visit, review, decline, withdrawal…
        Column("written_by", Text, nullable=False),  # the writer's pseudonymous id
        Column("written_at", DateTime(timezone=True), nullable=False),
        Column("body", LargeBinary, nullable=False),  # the text, AES-GCM sealed (shared/crypto.py)
    )
    # A case's notes, newest first.
    Index("notes_by_case", table.c.case_id, table.c.written_at)
    return table


@dataclass(frozen=True)
class Note:
    """One note as the service knows it, the text in clear (it is sealed only in its row)."""

    note_id: uuid.UUID
    case_id: uuid.UUID
    about: uuid.UUID | None
    action: str
    written_by: str
    written_at: datetime
    text: str


def written(
    text: str | None,
    *,
    case_id: uuid.UUID,
    action: str,
    by: str,
    at: datetime,
    about: uuid.UUID | None = None,
) -> Note | None:
    """The note an action carries, or None when the person wrote none."""
    if text is None:
        return None
    if len(text) > NOTE_MAX_CHARS:  # NoteText refuses it first; never store one past the rule
        raise ValueError(f"a note has at most {NOTE_MAX_CHARS} characters")
    return Note(
        note_id=uuid.uuid4(),
        case_id=case_id,
        about=about,
        action=action,
        written_by=by,
        written_at=at,
        text=text,
    )


def _bound_to(note_id: uuid.UUID, case_id: uuid.UUID) -> str:
    # The row's id and its case: sealed text copied into another row, or a row moved to another case,
    # does not open.
    return f"note:{case_id}:{note_id}"


def seal(cipher: FieldCipher, note: Note) -> dict[str, Any]:
    """The note as its row: everything but the text in clear, the text sealed."""
    row = row_of(note)
    text = row.pop("text")
    row["body"] = cipher.encrypt(text.encode("utf-8"), record_id=_bound_to(note.note_id, note.case_id))
    return row


def unseal(cipher: FieldCipher, row: Any) -> Note:
    """A row of a notes table as its note, the text opened. Raises DecryptionError (never quoting it)."""
    values = dict(row._mapping)
    body = values.pop("body")
    text = cipher.decrypt(body, record_id=_bound_to(values["note_id"], values["case_id"])).decode("utf-8")
    return Note(**values, text=text)


def texts_by_record(cipher: FieldCipher, rows: Iterable[Any]) -> dict[uuid.UUID | None, str]:
    """Sealed notes opened, each text by the record it was written with (an action writes one note)."""
    return {note.about: note.text for note in (unseal(cipher, row) for row in rows)}


async def save_notes(
    session: Transaction, table: Table, cipher: FieldCipher, notes: Iterable[Note | None]
) -> None:
    """Write the notes an action carried, sealed, in the action's own transaction (one statement)."""
    rows = [seal(cipher, note) for note in notes if note is not None]
    if rows:
        await session.execute(insert(table), rows)


async def sealed_notes(
    session: Transaction, table: Table, case_id: uuid.UUID, *, about: uuid.UUID | None = None
) -> Sequence[Row]:
    """A case's notes (only those about one record, if given), newest first, still sealed: they are
    opened only once their read is on record."""
    n = table.c
    query = select(table).where(n.case_id == case_id)
    if about is not None:
        query = query.where(n.about == about)
    return (await session.execute(query.order_by(n.written_at.desc(), n.note_id))).all()


class WrittenNote(BaseModel):
    """A note as an API shows it to a reader the disclosure rules allow."""

    note_id: uuid.UUID
    action: str = Field(description="The action it was written with")
    about: uuid.UUID | None = Field(
        description="The record of that action, if it made one (a visit, an approval, a referral)"
    )
    written_by: str = Field(description="Pseudonymous id of the writer")
    written_at: datetime
    text: str

    @classmethod
    def of(cls, note: Note) -> WrittenNote:
        return cls(**{name: getattr(note, name) for name in cls.model_fields})


def written_notes(cipher: FieldCipher, rows: Iterable[Any]) -> list[WrittenNote]:
    """Sealed notes opened, as an API shows them, in the rows' order."""
    return [WrittenNote.of(unseal(cipher, row)) for row in rows]
