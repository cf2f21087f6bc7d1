"""The ledger's hash chain and signed Merkle checkpoints, and their verification: pure code
that names the first entry whose record, link, position or presence is wrong."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.audit.merkle import Frontier, leaf_hash, prefix_roots, root_from_leaf_hashes

GENESIS = b"\x00" * 32
# Distinct prefixes, so an entry's hashed bytes can never be replayed as a checkpoint's signed
# bytes (or the other way round), and a later format can change without colliding with v1.
_ENTRY_DOMAIN = b"cpnet.ledger.v1\x00"
_CHECKPOINT_DOMAIN = b"cpnet.checkpoint.v1\x00"
# Version 2: an entry of one of the ledger's chains (one per partition of its input) also covers
# its chain's name, so no entry can be moved from one chain to another; a checkpoint signs the
# Merkle root over every chain's head (its name, size and root).
_ENTRY_DOMAIN_V2 = b"cpnet.ledger.v2\x00"
_CHECKPOINT_DOMAIN_V2 = b"cpnet.checkpoint.v2\x00"
_HEAD_DOMAIN = b"cpnet.head.v2\x00"
LEGACY = ""  # the one chain of the ledger before it was sharded, hashed as version 1
_HASH_SIZE = 32
_SIGNATURE_SIZE = 64


# One encoder for every call: json.dumps would build a new one per record, a cost verification
# pays for every entry of the ledger.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode("utf-8")


def _require_string_keys(value: Any) -> None:
    # json.dumps turns 1 into "1": {1: "a", "1": "b"} would print one key twice, and the
    # database would keep only one of them — a record whose hash could never be re-derived.
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON needs string keys, not {key!r}")
            _require_string_keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _require_string_keys(item)


def canonical_json(value: Any) -> bytes:
    """The bytes an entry's hash covers: sorted keys, no spaces, UTF-8 as is (strings are not
    normalised: other code points are another record). NaN, infinities, non-string keys raise."""
    _require_string_keys(value)
    return _dumps(value)


def _named(chain: str) -> bytes:
    name = chain.encode("utf-8")
    return len(name).to_bytes(2, "big") + name


def _digest(seq: int, canonical: bytes, prev_hash: bytes, chain: str = LEGACY) -> bytes:
    if chain == LEGACY:
        return hashlib.sha256(_ENTRY_DOMAIN + seq.to_bytes(8, "big") + prev_hash + canonical).digest()
    return hashlib.sha256(
        _ENTRY_DOMAIN_V2 + _named(chain) + seq.to_bytes(8, "big") + prev_hash + canonical
    ).digest()


def entry_hash(seq: int, record: dict, prev_hash: bytes, chain: str = LEGACY) -> bytes:
    """SHA-256 of b"cpnet.ledger.v1\\0" ‖ seq (8 bytes, big-endian) ‖ prev_hash ‖ canonical_json(record)
    for the legacy chain; of b"cpnet.ledger.v2\\0" ‖ len(chain) (2 bytes) ‖ chain (UTF-8) ‖ seq ‖
    prev_hash ‖ canonical_json(record) for an entry of a named chain (`seq`: its place in the chain)."""
    if not 1 <= seq < 2**64:
        raise ValueError(f"seq {seq} outside 1..2**64-1")
    if len(prev_hash) != _HASH_SIZE:
        raise ValueError("prev_hash must be 32 bytes")
    return _digest(seq, canonical_json(record), prev_hash, chain)


@dataclass(frozen=True)
class Entry:
    """One ledger entry: the `seq`-th of its `chain`. Each chain's Merkle tree is built over its
    entry hashes: this entry's leaf is `merkle.leaf_hash(entry.hash)`."""

    seq: int
    record: dict
    prev_hash: bytes
    hash: bytes
    # The bytes the hash covers, when this process made the entry (what the ledger stores).
    canonical: bytes | None = field(default=None, compare=False, repr=False)
    chain: str = LEGACY

    @property
    def leaf(self) -> bytes:
        return leaf_hash(self.hash)


def append(prev: Entry | None, record: dict, *, parsed: bool = False, chain: str = LEGACY) -> Entry:
    """The entry after `prev` in `chain` (the first one, linked to GENESIS, when `prev` is None).

    `parsed` says the record was built from JSON text just now and nobody else holds it: its keys
    are strings by construction and the entry may keep it as it is. Otherwise the entry keeps a
    copy of the document exactly as hashed (and as JSON storage will give it back), so the caller
    changing its dict later cannot silently break the entry."""
    if not isinstance(record, dict):
        raise TypeError("a ledger record is a dict")
    if prev is not None and prev.chain != chain:
        raise ValueError(f"entry of chain {chain!r} appended after one of chain {prev.chain!r}")
    seq = prev.seq + 1 if prev else 1
    prev_hash = prev.hash if prev else GENESIS
    canonical = _dumps(record) if parsed else canonical_json(record)
    return Entry(
        seq=seq,
        record=record if parsed else json.loads(canonical),
        prev_hash=prev_hash,
        hash=_digest(seq, canonical, prev_hash, chain),
        canonical=canonical,
        chain=chain,
    )


def ledger_root(entry_hashes: Sequence[bytes]) -> bytes:
    """The Merkle root (RFC 6962) whose leaves are the entry hashes: merkle_root(entry_hashes)."""
    return root_from_leaf_hashes([leaf_hash(h) for h in entry_hashes])


def _signed_message(size: int, root: bytes, created_at: str, sharded: bool = False) -> bytes:
    # created_at goes last: it is the only field of variable length.
    domain = _CHECKPOINT_DOMAIN_V2 if sharded else _CHECKPOINT_DOMAIN
    return domain + size.to_bytes(8, "big") + root + created_at.encode("utf-8")


@dataclass(frozen=True)
class Head:
    """Where one chain stood at a checkpoint: its first `size` entries have this Merkle root."""

    chain: str
    size: int
    root: bytes

    @property
    def leaf(self) -> bytes:
        return leaf_hash(_HEAD_DOMAIN + _named(self.chain) + self.size.to_bytes(8, "big") + self.root)


def heads_root(heads: Sequence[Head]) -> bytes:
    """The Merkle root over the heads' leaves, in the order of their chains' names."""
    return root_from_leaf_hashes([h.leaf for h in sorted(heads, key=lambda h: h.chain)])


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement. Version 1 (no `heads`): the first `size` entries of the one chain
    have this Merkle root. Version 2: every chain stood at its head, `size` entries in all, and
    `root` is the root over the heads — the one root a witness keeps for the whole ledger."""

    size: int
    root: bytes
    created_at: str
    key_id: str
    signature: bytes
    heads: tuple[Head, ...] = ()

    def signed_message(self) -> bytes:
        """b"cpnet.checkpoint.v1\\0" (or v2) ‖ size (8 bytes, big-endian) ‖ root ‖ created_at (UTF-8)."""
        return _signed_message(self.size, self.root, self.created_at, bool(self.heads))

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(self.signature, self.signed_message())
        except (InvalidSignature, ValueError, TypeError, OverflowError):
            return False
        return True

    def heads_agree(self) -> bool:
        """Whether a version 2 checkpoint's heads make its signed root and size."""
        return not self.heads or (
            heads_root(self.heads) == self.root and sum(h.size for h in self.heads) == self.size
        )

    def to_json(self) -> str:
        """One line a witness agency can keep: roots in hex, signature in base64."""
        document: dict[str, Any] = {
            "size": self.size,
            "root": self.root.hex(),
            "created_at": self.created_at,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }
        if self.heads:
            document["chains"] = [[h.chain, h.size, h.root.hex()] for h in self.heads]
        return canonical_json(document).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        """Parse what `to_json` wrote; ValueError if any field is missing or malformed."""
        try:
            data = json.loads(text)
            size, root, created_at = data["size"], bytes.fromhex(data["root"]), data["created_at"]
            key_id, signature = data["key_id"], base64.b64decode(data["signature"], validate=True)
            heads = tuple(
                Head(chain=chain, size=n, root=bytes.fromhex(r)) for chain, n, r in data.get("chains", ())
            )
        except (KeyError, TypeError, ValueError, binascii.Error, AttributeError) as error:
            raise ValueError(f"not a checkpoint: {error}") from None
        if (
            type(size) is not int
            or size < 0
            or len(root) != _HASH_SIZE
            or len(signature) != _SIGNATURE_SIZE
            or not isinstance(created_at, str)
            or not isinstance(key_id, str)
            or not all(_head_well_formed(h) for h in heads)
        ):
            raise ValueError("not a checkpoint: a field has the wrong type or length")
        return cls(
            size=size, root=root, created_at=created_at, key_id=key_id, signature=signature, heads=heads
        )


def _head_well_formed(head: Head) -> bool:
    return (
        isinstance(head.chain, str)
        and type(head.size) is int
        and head.size > 0
        and len(head.root) == _HASH_SIZE
    )


def make_checkpoint(
    entry_hashes: Sequence[bytes], private_key: Ed25519PrivateKey, key_id: str, created_at: str
) -> Checkpoint:
    """Sign the Merkle root over `entry_hashes` (the hashes of entries 1..n, in order)."""
    if any(len(h) != _HASH_SIZE for h in entry_hashes):
        raise ValueError("entry hashes are 32 bytes each")
    tree = Frontier()
    tree.extend(leaf_hash(h) for h in entry_hashes)
    return sign_checkpoint(tree, private_key, key_id, created_at)


def _require_utc(key_id: str, created_at: str) -> None:
    if not key_id:
        raise ValueError("a checkpoint needs a key id")
    try:
        offset = datetime.fromisoformat(created_at).utcoffset()
    except ValueError:
        offset = None
    if offset != timedelta(0):
        raise ValueError(f"created_at must be an ISO 8601 time in UTC, not {created_at!r}")


def sign_checkpoint(
    tree: Frontier, private_key: Ed25519PrivateKey, key_id: str, created_at: str
) -> Checkpoint:
    """Sign the root of `tree`, whose leaves are the leaf hashes of entries 1..tree.size."""
    _require_utc(key_id, created_at)
    size, root = tree.size, tree.root()
    return Checkpoint(
        size=size,
        root=root,
        created_at=created_at,
        key_id=key_id,
        signature=private_key.sign(_signed_message(size, root, created_at)),
    )


def sign_chains(
    trees: Mapping[str, Frontier], private_key: Ed25519PrivateKey, key_id: str, created_at: str
) -> Checkpoint:
    """Sign where every chain stands: `trees` holds each chain's Merkle tree over its entries
    1..size (a chain with no entries yet is left out)."""
    heads = tuple(
        Head(chain=name, size=tree.size, root=tree.root())
        for name, tree in sorted(trees.items())
        if tree.size
    )
    if not heads:
        raise ValueError("a checkpoint of the chains needs an entry in one of them")
    _require_utc(key_id, created_at)
    size, root = sum(h.size for h in heads), heads_root(heads)
    return Checkpoint(
        size=size,
        root=root,
        created_at=created_at,
        key_id=key_id,
        signature=private_key.sign(_signed_message(size, root, created_at, sharded=True)),
        heads=heads,
    )


def make_chains_checkpoint(
    chains: Mapping[str, Sequence[bytes]], private_key: Ed25519PrivateKey, key_id: str, created_at: str
) -> Checkpoint:
    """Sign the heads of chains given as their entry hashes, each in order (tests, tools)."""
    trees = {}
    for name, hashes in chains.items():
        trees[name] = Frontier()
        trees[name].extend(leaf_hash(h) for h in hashes)
    return sign_chains(trees, private_key, key_id, created_at)


@dataclass(frozen=True)
class Problem:
    """Something verification found wrong: `seq` names the entry of `chain` (None: about a
    checkpoint only)."""

    seq: int | None
    reason: str
    chain: str = LEGACY


def _rehash(entry: Entry) -> bytes | None:
    """The hash the entry should have; None if its fields cannot even be hashed."""
    try:
        # Deliberately without the string-key walk: this runs for every entry of every
        # verification, and anything stored as JSON already has string keys.
        return _digest(entry.seq, _dumps(entry.record), entry.prev_hash, entry.chain)
    except (TypeError, ValueError, OverflowError, AttributeError):
        return None


def _describe(checkpoint: Checkpoint) -> str:
    return f"checkpoint of {checkpoint.created_at} (key {checkpoint.key_id!r})"


def _confirming(hashes: Sequence[bytes], signed: Sequence[Checkpoint], position: int) -> Checkpoint | None:
    """The smallest signed checkpoint covering `position` if it agrees with `hashes`, a guessed
    original history; None if it disagrees or no checkpoint covers that position."""
    for checkpoint in signed:
        if position <= checkpoint.size <= len(hashes):
            return checkpoint if ledger_root(hashes[: checkpoint.size]) == checkpoint.root else None
    return None


def _misplaced(
    entries: Sequence[Entry], hashes: list[bytes], signed: Sequence[Checkpoint], position: int
) -> Problem:
    """Position `position` holds another seq (everything before it is in order)."""
    seq = entries[position - 1].seq
    if seq < 1:
        return Problem(position, f"entry {position} missing: its place holds an entry numbered {seq}")
    if seq > position:
        later = next((i + 1 for i in range(position, len(entries)) if entries[i].seq == position), None)
        if later is None:
            missing = f"entry {position}" if seq == position + 1 else f"entries {position}..{seq - 1}"
            return Problem(
                position, f"{missing} missing: the ledger jumps from entry {position - 1} to {seq}"
            )
        return Problem(
            position,
            f"entry {position} out of order: it stands at position {later}, "
            f"and entry {seq} stands in its place",
        )
    # A second entry numbered `seq` (the first stands at position seq). A replayed copy is the
    # intruder itself; of two different entries, the earlier is the insertion if dropping it
    # restores a signed root, or if both hang from the same predecessor (a fork).
    earlier, here = entries[seq - 1], entries[position - 1]
    if earlier.hash == here.hash:
        return Problem(position, f"entry {position} missing: its place holds a second copy of entry {seq}")
    checkpoint = _confirming(hashes[: seq - 1] + hashes[seq:], signed, seq)
    if checkpoint is not None:
        return Problem(
            seq,
            f"entry {seq} was inserted: without it the ledger matches the {_describe(checkpoint)} "
            f"over {checkpoint.size} entries",
        )
    if earlier.prev_hash == here.prev_hash:
        return Problem(
            seq,
            f"entry {seq} was inserted: another entry {seq}, at position {position}, hangs from "
            "the same predecessor",
        )
    return Problem(position, f"entry {position} missing: its place holds a second entry {seq}")


def _broken_link(
    entries: Sequence[Entry], hashes: list[bytes], signed: Sequence[Checkpoint], position: int
) -> Problem:
    """Entry `position` is intact and in place but does not link to the entry before it."""
    if position == 1:
        return Problem(1, "entry 1 does not link to the genesis hash: it is forged")
    # Either the previous entry was rewritten and re-hashed (this one still points at its
    # original hash) or this one is forged. A signed root over the original hash tells which.
    original = list(hashes)
    original[position - 2] = entries[position - 1].prev_hash
    checkpoint = _confirming(original, signed, position - 1)
    if checkpoint is not None:
        return Problem(
            position - 1,
            f"entry {position - 1} was rewritten and its hash recomputed: entry "
            f"{position} still links to the original, which the {_describe(checkpoint)} "
            f"over {checkpoint.size} entries confirms",
        )
    covered = any(position - 1 <= c.size <= len(hashes) for c in signed)
    return Problem(
        position,
        f"entry {position} does not link to entry {position - 1}: it is forged"
        + ("" if covered else f" (or entry {position - 1} was rewritten; no checkpoint covers it yet)"),
    )


def _scan(entries: Sequence[Entry], hashes: list[bytes], signed: Sequence[Checkpoint]) -> list[Problem]:
    """The first break of the chain, located, then every other entry whose own hash is wrong (a
    break's later consequences — shifted seqs, a broken link or two — are not repeated)."""
    problems: list[Problem] = []
    first: Problem | None = None
    previous = GENESIS
    for position, entry in enumerate(entries, start=1):
        intact = _rehash(entry) == entry.hash
        if first is None:
            if not intact:
                first = Problem(
                    position,
                    f"entry {position}: hash mismatch: its record (or seq or link) was "
                    "changed after it was written",
                )
            elif entry.seq != position:
                first = _misplaced(entries, hashes, signed, position)
            elif entry.prev_hash != previous:
                first = _broken_link(entries, hashes, signed, position)
            if first is not None:
                problems.append(first)
            previous = entry.hash
        elif not intact:
            seq = entry.seq if isinstance(entry.seq, int) else position
            problems.append(
                Problem(
                    seq,
                    f"entry {seq}: hash mismatch: its record (or seq or link) was changed "
                    "after it was written",
                )
            )
    return problems


def _check_checkpoints(
    entries: Sequence[Entry], hashes: list[bytes], signed: Sequence[Checkpoint], located: int | None
) -> list[Problem]:
    """Truncation and root mismatches, each located as precisely as the chain and the other
    checkpoints allow. `located` is the first bad entry the chain scan found, if any."""
    n = len(entries)
    truncation = _truncation(entries, [c for c in signed if c.size > n], located)
    problems = [truncation] if truncation is not None else []
    within = [c for c in signed if c.size <= n]
    if not within:
        return problems
    return problems + _root_mismatches(hashes, within, located)


def _truncation(
    entries: Sequence[Entry], beyond: Sequence[Checkpoint], located: int | None
) -> Problem | None:
    """What the largest checkpoint covering more entries than the ledger holds says is missing:
    the entries after the ledger's end, or (its last seq being high enough) some in between."""
    if not beyond:
        return None
    n = len(entries)
    last_seq = entries[-1].seq if entries and isinstance(entries[-1].seq, int) else n
    latest = beyond[-1]
    if last_seq < latest.size:
        return Problem(
            last_seq + 1,
            f"ledger truncated: {_describe(latest)} covers {latest.size} "
            f"entries, the ledger ends at entry {last_seq}",
        )
    return Problem(
        None,
        f"{_describe(latest)} covers {latest.size} entries, the ledger holds "
        f"{n}: entries are missing" + (f" (see entry {located})" if located else ""),
    )


def _root_mismatches(hashes: list[bytes], within: Sequence[Checkpoint], located: int | None) -> list[Problem]:
    """One problem for each checkpoint within the ledger whose signed root is not the root of
    the entries it covers, smallest checkpoint first."""
    roots = prefix_roots((leaf_hash(h) for h in hashes), [c.size for c in within])
    agrees = {id(c): roots[c.size] == c.root for c in within}
    problems: list[Problem] = []
    for checkpoint in within:
        if agrees[id(checkpoint)]:
            continue
        problem = _root_mismatch(checkpoint, within, agrees, located)
        problems.append(problem)
        if problem.seq is not None:
            # A rewrite found at this checkpoint's last entry explains the larger ones' mismatch.
            located = problem.seq
    return problems


def _root_mismatch(
    checkpoint: Checkpoint, within: Sequence[Checkpoint], agrees: Mapping[int, bool], located: int | None
) -> Problem:
    """Whom a mismatching root blames: the checkpoint itself, the change the chain already
    located, or the last entry the checkpoint covers."""
    name = f"{_describe(checkpoint)} over {checkpoint.size} entries"
    if _vouched_for_by_larger(checkpoint, within, agrees):
        # Another signed root vouches for these very entries, so it is this checkpoint that lies.
        return Problem(
            None,
            f"{name}: its signed root is not the root of entries "
            f"1..{checkpoint.size}, which a checkpoint at least as large confirms: "
            "the checkpoint is false, not the ledger",
        )
    if located is not None and located <= checkpoint.size:
        return Problem(None, f"{name}: Merkle root differs (the ledger changed at entry {located})")
    return _rewritten_and_relinked(checkpoint, name, within, agrees)


def _vouched_for_by_larger(
    checkpoint: Checkpoint, within: Sequence[Checkpoint], agrees: Mapping[int, bool]
) -> bool:
    """Whether an agreeing checkpoint at least as large covers the same entries."""
    return any(agrees[id(c)] and c.size >= checkpoint.size for c in within)


def _rewritten_and_relinked(
    checkpoint: Checkpoint, name: str, within: Sequence[Checkpoint], agrees: Mapping[int, bool]
) -> Problem:
    """The chain is whole up to here, yet the root differs: some entry after the last agreeing
    checkpoint was rewritten and everything after it re-hashed and re-linked, so this
    checkpoint's last entry is certainly not the one that was signed."""
    since = max((c.size for c in within if agrees[id(c)] and c.size < checkpoint.size), default=0)
    span = (
        ""
        if since + 1 == checkpoint.size
        else f"; the rewrite began at one of entries {since + 1}..{checkpoint.size} "
        "and the chain was re-linked"
    )
    return Problem(
        checkpoint.size,
        f"entry {checkpoint.size} is not the entry the {name} signed: "
        f"Merkle root differs, it was rewritten{span}",
    )


def signed_checkpoints(
    checkpoints: Sequence[Checkpoint], public_keys: Mapping[str, Ed25519PublicKey]
) -> tuple[list[Checkpoint], list[Problem]]:
    """The checkpoints whose signature holds (and whose heads make their root), and a problem
    for each of the others: only these may vouch for anything."""
    signed: list[Checkpoint] = []
    problems: list[Problem] = []
    for checkpoint in checkpoints:
        key = public_keys.get(checkpoint.key_id)
        name = f"{_describe(checkpoint)} over {checkpoint.size} entries"
        if key is None:
            problems.append(Problem(None, f"{name}: signed with an unknown key"))
        elif not checkpoint.signature_valid(key):
            problems.append(Problem(None, f"{name}: bad signature"))
        elif not checkpoint.heads_agree():
            problems.append(Problem(None, f"{name}: its chains' heads do not make its signed root"))
        else:
            signed.append(checkpoint)
    return signed, problems


def views_of_chains(signed: Sequence[Checkpoint]) -> dict[str, list[Checkpoint]]:
    """Each chain's checkpoints, smallest first: a version 1 checkpoint speaks of the legacy
    chain, a version 2 checkpoint of every chain it has a head for (its signature already held)."""
    views: dict[str, list[Checkpoint]] = {}
    for checkpoint in signed:
        heads = checkpoint.heads or (Head(LEGACY, checkpoint.size, checkpoint.root),)
        for head in heads:
            views.setdefault(head.chain, []).append(
                Checkpoint(head.size, head.root, checkpoint.created_at, checkpoint.key_id, b"")
                if checkpoint.heads
                else checkpoint
            )
    for view in views.values():
        view.sort(key=lambda c: c.size)
    return views


def verify_chain(name: str, entries: Sequence[Entry], view: Sequence[Checkpoint]) -> list[Problem]:
    """One chain's problems, its first bad entry first: `entries` are the chain's in their order,
    `view` its checkpoints (from `views_of_chains`)."""
    hashes = [e.hash for e in entries]
    found = _scan(entries, hashes, view)
    located = found[0].seq if found else None
    found += _check_checkpoints(entries, hashes, view, located)
    return [Problem(p.seq, f"chain {name}: {p.reason}", name) for p in found] if name else found


def in_order(problems: Sequence[Problem]) -> list[Problem]:
    """The first bad entry first, chain by chain; problems of checkpoints alone last."""
    return sorted(problems, key=lambda p: (p.seq is None, p.chain, p.seq or 0))


def verify(
    entries: Sequence[Entry], checkpoints: Sequence[Checkpoint], public_keys: Mapping[str, Ed25519PublicKey]
) -> list[Problem]:
    """Every problem found, the first bad entry first (checkpoint-only problems last); empty
    means the ledger is intact. `entries` are every chain's, each chain's in its order; each
    chain is verified on its own against its heads in the signed checkpoints. The first
    problem's chain and seq name the entry that was changed, removed, inserted or moved, or the
    entry after the end of a truncated chain."""
    signed, problems = signed_checkpoints(checkpoints, public_keys)
    chains: dict[str, list[Entry]] = {}
    for entry in entries:
        chains.setdefault(entry.chain, []).append(entry)
    views = views_of_chains(signed)
    for name in sorted(chains.keys() | views.keys()):
        problems += verify_chain(name, chains.get(name, []), views.get(name, []))
    return in_order(problems)
