"""Signed checkpoints of the ledger: every N entries or T minutes a Merkle root over all entry
hashes, signed with the service's Ed25519 key, stored and exportable for witnesses."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import tables as t
from services.audit.chain import Checkpoint, Entry, sign_checkpoint, verify
from services.audit.ledger import LEDGER_LOCK
from services.audit.merkle import Frontier, leaf_hash
from services.audit.settings import AuditSettings
from shared.crypto import INSECURE_DEV_AUDIT_SIGNING_KEY
from shared.errors import ConfigurationError
from shared.metrics import Gauge


def signing_key(settings: AuditSettings) -> Ed25519PrivateKey:
    if not settings.audit_signing_key:
        return Ed25519PrivateKey.from_private_bytes(INSECURE_DEV_AUDIT_SIGNING_KEY)
    try:
        raw = base64.b64decode(settings.audit_signing_key, validate=True)
        return Ed25519PrivateKey.from_private_bytes(raw)
    except ValueError:
        raise ConfigurationError("CPNET_AUDIT_SIGNING_KEY: not the base64 of a 32-byte Ed25519 key") from None


def public_keys(settings: AuditSettings) -> dict[str, Ed25519PublicKey]:
    return {settings.audit_key_id: signing_key(settings).public_key()}


# Entries read at a time while the tree catches up, so memory stays bounded on a long ledger.
_CATCH_UP_CHUNK = 50_000


async def _grow(session: AsyncSession, tree: Frontier, size: int) -> None:
    """Add the leaves of entries tree.size+1..size (entries never change: those already in the
    tree are not read again)."""
    while tree.size < size:
        upto = min(size, tree.size + _CATCH_UP_CHUNK)
        hashes = (
            (
                await session.execute(
                    select(t.ledger.c.hash)
                    .where(t.ledger.c.seq > tree.size, t.ledger.c.seq <= upto)
                    .order_by(t.ledger.c.seq)
                )
            )
            .scalars()
            .all()
        )
        if len(hashes) != upto - tree.size:
            raise RuntimeError(
                f"the ledger has a gap between entries {tree.size} and {upto}: run cpnet audit verify"
            )
        tree.extend(leaf_hash(h) for h in hashes)


async def checkpoint_if_due(
    session: AsyncSession,
    settings: AuditSettings,
    *,
    now: datetime | None = None,
    force: bool = False,
    tree: Frontier | None = None,
) -> Checkpoint | None:
    """Sign a checkpoint when N entries or T minutes have passed since the last (or always
    with `force`, if the ledger grew). Returns it, or None. `tree` is the Merkle tree of an
    earlier call, kept by a long-running caller so that only the new entries are hashed."""
    now = now or datetime.now(UTC)
    # The appenders' lock: the ledger's end cannot move while the root is computed.
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK})
    size = await session.scalar(select(func.coalesce(func.max(t.ledger.c.seq), 0)))
    last = (
        await session.execute(select(t.checkpoints).order_by(t.checkpoints.c.size.desc()).limit(1))
    ).first()
    last_size = last.size if last else 0
    if size <= last_size:
        return None
    grown = size - last_size >= settings.audit_checkpoint_every
    stale = last is None or now - datetime.fromisoformat(last.created_at) >= timedelta(
        minutes=settings.audit_checkpoint_minutes
    )
    if not (force or grown or stale):
        return None
    if tree is None or tree.size > size:  # a ledger shorter than the tree is not the one it grew from
        tree = Frontier()
    await _grow(session, tree, size)
    checkpoint = sign_checkpoint(tree, signing_key(settings), settings.audit_key_id, now.isoformat())
    await session.execute(
        insert(t.checkpoints).values(
            size=checkpoint.size,
            root=checkpoint.root,
            created_at=checkpoint.created_at,
            key_id=checkpoint.key_id,
            signature=checkpoint.signature,
        )
    )
    return checkpoint


async def load_checkpoints(session: AsyncSession) -> list[Checkpoint]:
    """Every signed checkpoint, smallest first."""
    return [
        Checkpoint(size=r.size, root=r.root, created_at=r.created_at, key_id=r.key_id, signature=r.signature)
        for r in (await session.execute(select(t.checkpoints).order_by(t.checkpoints.c.size))).all()
    ]


async def load_ledger(session: AsyncSession) -> tuple[list[Entry], list[Checkpoint]]:
    entries = [
        Entry(seq=r.seq, record=r.record, prev_hash=r.prev_hash, hash=r.hash)
        for r in (
            await session.execute(
                select(t.ledger.c.seq, t.ledger.c.record, t.ledger.c.prev_hash, t.ledger.c.hash).order_by(
                    t.ledger.c.seq
                )
            )
        ).all()
    ]
    return entries, await load_checkpoints(session)


async def verify_ledger(session: AsyncSession, settings: AuditSettings):
    entries, checkpoints = await load_ledger(session)
    return len(entries), len(checkpoints), verify(entries, checkpoints, public_keys(settings))


async def ledger_gauges(session: AsyncSession) -> list[Gauge]:
    """The ledger's length, and how much of it no signed checkpoint covers yet."""
    entries = await session.scalar(select(func.coalesce(func.max(t.ledger.c.seq), 0)))
    covered = await session.scalar(select(func.coalesce(func.max(t.checkpoints.c.size), 0)))
    return [
        Gauge("cpnet_ledger_entries", "Entries in the audit ledger", entries),
        Gauge("cpnet_ledger_unchecked_entries", "Entries no signed checkpoint covers yet", entries - covered),
    ]
