"""Signed checkpoints of the ledger: every N entries or T minutes the heads of every chain (each a
Merkle root over its entry hashes) under one root, signed with the service's Ed25519 key, stored
and exportable for witnesses. Each checkpoint also keeps every chain's Merkle frontier, so a
restarting service hashes only the entries since, not the whole ledger again."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import tables as t
from services.audit.chain import (
    Checkpoint,
    Entry,
    Head,
    Problem,
    in_order,
    sign_chains,
    signed_checkpoints,
    verify_chain,
    views_of_chains,
)
from services.audit.merkle import Frontier, leaf_hash
from services.audit.settings import AuditSettings
from shared.crypto import INSECURE_DEV_AUDIT_SIGNING_KEY
from shared.errors import ConfigurationError
from shared.metrics import Gauge

# One checkpoint at a time, whichever audit instance's sweep comes first.
CHECKPOINT_LOCK = zlib.crc32(b"cpnet.audit.checkpoint")


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


# Every chain's length in one statement (so one snapshot: each chain's committed prefix), an index
# probe a chain rather than a scan of the ledger.
_SIZES = text(f"""
    WITH RECURSIVE chains(chain) AS (
        (SELECT chain FROM {t.SCHEMA}.ledger ORDER BY chain LIMIT 1)
        UNION ALL
        SELECT (SELECT l.chain FROM {t.SCHEMA}.ledger l WHERE l.chain > chains.chain ORDER BY l.chain LIMIT 1)
        FROM chains WHERE chains.chain IS NOT NULL
    )
    SELECT chain, (SELECT max(position) FROM {t.SCHEMA}.ledger l WHERE l.chain = chains.chain) AS size
    FROM chains WHERE chain IS NOT NULL
""")


async def chain_sizes(session: AsyncSession) -> dict[str, int]:
    return {r.chain: r.size for r in (await session.execute(_SIZES)).all()}


# Entries read at a time while a tree catches up, so memory stays bounded on a long chain.
_CATCH_UP_CHUNK = 50_000


async def _grow(session: AsyncSession, chain: str, tree: Frontier, size: int) -> None:
    """Add the leaves of the chain's entries tree.size+1..size (entries never change: those
    already in the tree are not read again)."""
    c = t.ledger.c
    while tree.size < size:
        upto = min(size, tree.size + _CATCH_UP_CHUNK)
        query = (
            select(c.hash)
            .where(c.chain == chain, c.position > tree.size, c.position <= upto)
            .order_by(c.position)
        )
        hashes = (await session.execute(query)).scalars().all()
        if len(hashes) != upto - tree.size:
            raise RuntimeError(
                f"chain {chain!r} has a gap between entries {tree.size} and {upto}: run cpnet audit verify"
            )
        tree.extend(leaf_hash(h) for h in hashes)


def _heads(row) -> tuple[Head, ...]:
    return tuple(
        Head(chain=chain, size=size, root=bytes.fromhex(root))
        for chain, (size, root) in sorted((row.heads or {}).items())
    )


def _restore(row, trees: dict[str, Frontier]) -> None:
    """The chains' trees as the checkpoint `row` kept them, each checked against its signed head
    (a frontier that does not make its head's root is left out, and rebuilt from the entries)."""
    frontiers = row.frontiers or {}
    for head in _heads(row):
        try:
            raw = base64.b64decode(frontiers.get(head.chain, ""), validate=True)
            tree = Frontier.restore(head.size, [raw[i : i + 32] for i in range(0, len(raw), 32)])
        except ValueError:
            continue
        if tree.root() == head.root:
            trees[head.chain] = tree


async def checkpoint_if_due(
    session: AsyncSession,
    settings: AuditSettings,
    *,
    now: datetime | None = None,
    force: bool = False,
    trees: dict[str, Frontier] | None = None,
) -> Checkpoint | None:
    """Sign a checkpoint when N entries or T minutes have passed since the last (or always
    with `force`, if the ledger grew). Returns it, or None. `trees` are the chains' Merkle trees
    of an earlier call, kept by a long-running caller so that only the new entries are hashed;
    empty, they start from the last checkpoint's frontiers."""
    now = now or datetime.now(UTC)
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHECKPOINT_LOCK})
    sizes = await chain_sizes(session)
    last = (
        await session.execute(select(t.checkpoints).order_by(t.checkpoints.c.size.desc()).limit(1))
    ).first()
    last_size, total = (last.size if last else 0), sum(sizes.values())
    if total <= last_size:
        return None
    grown = total - last_size >= settings.audit_checkpoint_every
    stale = last is None or now - datetime.fromisoformat(last.created_at) >= timedelta(
        minutes=settings.audit_checkpoint_minutes
    )
    if not (force or grown or stale):
        return None
    trees = {} if trees is None else trees
    if not trees and last is not None:
        _restore(last, trees)
    for chain, size in sizes.items():
        if chain not in trees or trees[chain].size > size:  # not the chain it grew from
            trees[chain] = Frontier()
        await _grow(session, chain, trees[chain], size)
    chains = {chain: trees[chain] for chain in sizes}
    checkpoint = sign_chains(chains, signing_key(settings), settings.audit_key_id, now.isoformat())
    await session.execute(
        insert(t.checkpoints).values(
            size=checkpoint.size,
            root=checkpoint.root,
            created_at=checkpoint.created_at,
            key_id=checkpoint.key_id,
            signature=checkpoint.signature,
            heads={h.chain: [h.size, h.root.hex()] for h in checkpoint.heads},
            frontiers={
                chain: base64.b64encode(b"".join(tree.roots())).decode("ascii")
                for chain, tree in chains.items()
            },
        )
    )
    return checkpoint


async def load_checkpoints(session: AsyncSession) -> list[Checkpoint]:
    """Every signed checkpoint, smallest first."""
    c = t.checkpoints.c
    rows = (
        await session.execute(
            select(c.size, c.root, c.created_at, c.key_id, c.signature, c.heads).order_by(c.size)
        )
    ).all()
    return [
        Checkpoint(
            size=r.size,
            root=r.root,
            created_at=r.created_at,
            key_id=r.key_id,
            signature=r.signature,
            heads=_heads(r),
        )
        for r in rows
    ]


async def load_chain(session: AsyncSession, chain: str) -> list[Entry]:
    """One chain's entries, in its order."""
    c = t.ledger.c
    query = select(c.position, c.record, c.prev_hash, c.hash).where(c.chain == chain).order_by(c.position)
    return [
        Entry(seq=r.position, record=r.record, prev_hash=r.prev_hash, hash=r.hash, chain=chain)
        for r in (await session.execute(query)).all()
    ]


async def verify_ledger(session: AsyncSession, settings: AuditSettings) -> tuple[int, int, list[Problem]]:
    """Every chain against its heads in the signed checkpoints, one chain in memory at a time:
    the entries verified, the checkpoints, and the problems (`chain.verify`'s order). The
    checkpoints are read first: the ledger only grows, so each of them covers entries read after
    it, while a checkpoint signed after the entries were read would cover entries missing from them."""
    checkpoints = await load_checkpoints(session)
    signed, problems = signed_checkpoints(checkpoints, public_keys(settings))
    views = views_of_chains(signed)
    entries = 0
    for name in sorted((await chain_sizes(session)).keys() | views.keys()):
        chain = await load_chain(session, name)
        entries += len(chain)
        problems += verify_chain(name, chain, views.get(name, []))
    return entries, len(checkpoints), in_order(problems)


async def ledger_gauges(session: AsyncSession) -> list[Gauge]:
    """The ledger's length, and how much of it no signed checkpoint covers yet."""
    entries = sum((await chain_sizes(session)).values())
    covered = await session.scalar(
        select(t.checkpoints.c.size).order_by(t.checkpoints.c.size.desc()).limit(1)
    )
    return [
        Gauge("cpnet_ledger_entries", "Entries in the audit ledger", entries),
        Gauge(
            "cpnet_ledger_unchecked_entries",
            "Entries no signed checkpoint covers yet",
            entries - (covered or 0),
        ),
    ]
