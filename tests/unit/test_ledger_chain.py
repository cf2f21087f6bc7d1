"""The ledger's hash chain and signed checkpoints: a clean ledger verifies, and every single
tampering (edit, delete, swap, insert, truncate) is caught at the entry it touched."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit import merkle
from services.audit.chain import (
    GENESIS,
    Checkpoint,
    Entry,
    Problem,
    append,
    canonical_json,
    entry_hash,
    ledger_root,
    make_chains_checkpoint,
    make_checkpoint,
    verify,
)

SIZE = 300
EVERY = 50
KEY_ID = "audit-2026"
KEY = Ed25519PrivateKey.generate()
KEYS = {KEY_ID: KEY.public_key()}
START = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
EVENT_TYPES = [
    "case.reported",
    "case.assessed",
    "referral.created",
    "referral.acknowledged",
    "followup.scheduled",
    "followup.visit_recorded",
    "case.reassessment_requested",
    "case.closed",
]
GRADES = ["red", "orange", "blue"]


def _record(rng: random.Random, n: int, cases: list[str]) -> dict:
    """A ledger record shaped like audit's: where the message came from, and its envelope."""
    event_type = rng.choice(EVENT_TYPES)
    return {
        "topic": event_type if not event_type.startswith("referral.") else "referral.to.police",
        "partition": rng.randrange(6),
        "offset": n,
        "timestamp_ms": int((START + timedelta(seconds=n)).timestamp() * 1000),
        "headers": {"event_id": "", "event_type": event_type},
        "event": {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": (START + timedelta(seconds=n)).isoformat(),
            "case_id": rng.choice(cases),
            "producer": event_type.split(".")[0],
            "payload": {
                "grade": rng.choice(GRADES),
                "territory": f"1101{rng.randrange(10**8):08d}",
                "age": rng.randrange(1, 18),
                "indicators": rng.sample(["no_guardian", "injury", "absent_from_school", "hunger"], 2),
                "note": "复核 — révisé",
            },
        },
    }


def _checkpoint(
    entries: list[Entry], size: int, key: Ed25519PrivateKey = KEY, key_id: str = KEY_ID
) -> Checkpoint:
    created_at = (START + timedelta(minutes=size)).isoformat()
    return make_checkpoint([e.hash for e in entries[:size]], key, key_id, created_at)


@pytest.fixture(scope="module")
def ledger() -> tuple[list[Entry], list[Checkpoint]]:
    rng = random.Random(6962)
    cases = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(40)]
    entries: list[Entry] = []
    for n in range(SIZE):
        entries.append(append(entries[-1] if entries else None, _record(rng, n, cases)))
    sizes = list(range(EVERY, SIZE + 1, EVERY))
    if sizes[-1] != SIZE:
        sizes.append(SIZE)  # a checkpoint at the very end, so a cut tail has a witness
    return entries, [_checkpoint(entries, s) for s in sizes]


# --- canonical JSON and the entry hash ------------------------------------------------------


def test_canonical_json_ignores_key_order_at_every_depth() -> None:
    a = {"b": 1, "a": {"y": [1, {"q": None, "p": True}], "x": "z"}}
    b = {"a": {"x": "z", "y": [1, {"p": True, "q": None}]}, "b": 1}
    assert canonical_json(a) == canonical_json(b) == b'{"a":{"x":"z","y":[1,{"p":true,"q":null}]},"b":1}'


def test_canonical_json_is_utf8_as_written_whatever_the_escaping() -> None:
    raw = {"name": "王小明", "place": "Zürich", "emoji": "🙂"}
    escaped = json.loads(
        '{"place": "Z\\u00fcrich", "emoji": "\\ud83d\\ude42", "name": "\\u738b\\u5c0f\\u660e"}'
    )
    expected = '{"emoji":"🙂","name":"王小明","place":"Zürich"}'.encode()
    assert canonical_json(raw) == canonical_json(escaped) == expected
    # Not normalised: a decomposed "ü" is other code points, so another record.
    assert canonical_json({"place": "Zu\u0308rich"}) != canonical_json({"place": "Zürich"})


@pytest.mark.parametrize(
    "value",
    [
        {"x": float("nan")},
        {"x": float("inf")},
        [float("-inf")],
        {1: "a"},
        {"a": {2: "b"}},
        {"s": {1, 2}},
        "\ud800",
    ],
)
def test_canonical_json_refuses_what_has_no_single_json_form(value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        canonical_json(value)


def test_entry_hash_is_the_documented_domain_separated_digest() -> None:
    record = {"event": {"event_id": "e1"}, "topic": "case.reported"}
    expected = hashlib.sha256(
        b"cpnet.ledger.v1\x00"
        + (7).to_bytes(8, "big")
        + b"\x11" * 32
        + b'{"event":{"event_id":"e1"},"topic":"case.reported"}'
    ).digest()
    assert entry_hash(7, record, b"\x11" * 32) == expected
    # Pinned: changing the encoding would orphan every hash already stored.
    assert (
        entry_hash(1, {"a": 1}, GENESIS).hex()
        == hashlib.sha256(b"cpnet.ledger.v1\x00" + b"\x00" * 7 + b"\x01" + GENESIS + b'{"a":1}').hexdigest()
    )


def test_append_chains_from_genesis_and_keeps_its_own_copy() -> None:
    record = {"topic": "case.reported", "payload": ("a", "b")}
    first = append(None, record)
    second = append(first, {"topic": "case.assessed"})
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.hash == entry_hash(1, record, GENESIS)
    record["topic"] = "changed later by the caller"
    assert first.record == {"topic": "case.reported", "payload": ["a", "b"]}
    assert verify([first, second], [], {}) == []
    assert first.leaf == merkle.leaf_hash(first.hash)


# --- checkpoints -----------------------------------------------------------------------------


def test_checkpoint_root_is_the_merkle_root_over_entry_hashes(ledger) -> None:
    entries, checkpoints = ledger
    last = checkpoints[-1]
    assert last.size == len(entries)
    assert (
        last.root == merkle.merkle_root([e.hash for e in entries]) == ledger_root([e.hash for e in entries])
    )
    assert last.signed_message() == (
        b"cpnet.checkpoint.v1\x00" + last.size.to_bytes(8, "big") + last.root + last.created_at.encode()
    )
    assert last.signature_valid(KEYS[KEY_ID])


def test_checkpoint_survives_export_and_a_witness_can_check_it(ledger) -> None:
    entries, checkpoints = ledger
    lines = [c.to_json() for c in checkpoints]
    fields = json.loads(lines[0])
    assert set(fields) == {"size", "root", "created_at", "key_id", "signature"}
    assert fields["root"] == checkpoints[0].root.hex()
    witnessed = [Checkpoint.from_json(line) for line in lines]
    assert witnessed == checkpoints
    assert verify(entries, witnessed, KEYS) == []
    for broken in [
        lines[0].replace(fields["root"], "zz" + fields["root"][2:]),
        "{}",
        "[]",
        "not json",
        lines[0].replace('"size":50', '"size":-1'),
        lines[0].replace('"size":50', '"size":true'),
    ]:
        with pytest.raises(ValueError):
            Checkpoint.from_json(broken)


def test_checkpoint_times_must_be_utc() -> None:
    with pytest.raises(ValueError):
        make_checkpoint([], KEY, KEY_ID, "2026-11-29T08:00:00+08:00")
    with pytest.raises(ValueError):
        make_checkpoint([], KEY, KEY_ID, "2026-11-29T08:00:00")
    assert make_checkpoint([], KEY, KEY_ID, "2026-11-29T00:00:00Z").root == merkle.EMPTY_ROOT


# --- verification ----------------------------------------------------------------------------


def test_a_clean_ledger_verifies(ledger) -> None:
    entries, checkpoints = ledger
    assert [c.size for c in checkpoints] == [50, 100, 150, 200, 250, 300]
    assert verify(entries, checkpoints, KEYS) == []
    assert verify([], [], KEYS) == []


def _edit(record: dict, rng: random.Random) -> dict:
    """The same record with one field changed, added or removed."""
    forged = copy.deepcopy(record)
    event = forged["event"]
    match rng.randrange(5):
        case 0:
            event["payload"]["grade"] = next(g for g in GRADES if g != event["payload"]["grade"])
        case 1:
            event["case_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        case 2:
            forged["topic"] = forged["topic"] + ".forged"
        case 3:
            del event["payload"]["indicators"]
        case _:
            event["payload"]["overridden_by"] = "someone"
    return forged


def _mutate(
    entries: list[Entry], rng: random.Random, kind: str, chain: str = ""
) -> tuple[list[Entry], int, str]:
    """A fresh copy of a chain with one tampering, the seq verification must name, and a label."""
    ledger = list(entries)
    n = len(ledger)
    if kind == "edit":
        k = rng.randint(1, n)
        old = ledger[k - 1]
        record = _edit(old.record, rng)
        assert canonical_json(record) != canonical_json(old.record)
        rehash = rng.random() < 0.5  # the smarter attacker recomputes the edited entry's own hash
        new_hash = entry_hash(k, record, old.prev_hash, chain) if rehash else old.hash
        ledger[k - 1] = replace(old, record=record, hash=new_hash)
        return ledger, k, "edit+rehash" if rehash else "edit"
    if kind == "delete":
        k = rng.randint(1, n)
        del ledger[k - 1]
        return ledger, k, kind
    if kind == "swap":
        k = rng.randint(1, n - 1)
        ledger[k - 1], ledger[k] = ledger[k], ledger[k - 1]
        return ledger, k, kind
    if kind == "insert":
        k = rng.randint(1, n + 1)
        true_prev = ledger[k - 2].hash if k > 1 else GENESIS
        # A wrong prev: random bytes, or a real hash from elsewhere in the chain.
        prev = rng.choice([rng.randbytes(32), rng.choice(ledger).hash, GENESIS])
        if prev == true_prev:
            prev = rng.randbytes(32)
        record = _edit(ledger[rng.randrange(n)].record, rng)
        forged = Entry(
            seq=k, record=record, prev_hash=prev, hash=entry_hash(k, record, prev, chain), chain=chain
        )
        ledger.insert(k - 1, forged)
        return ledger, k, kind
    k = rng.randint(1, 120)
    del ledger[n - k :]
    return ledger, n - k + 1, "truncate"


def _tampered_a_thousand_times(
    chains: dict[str, list[Entry]], checkpoints: list[Checkpoint], rng: random.Random
) -> tuple[Counter[str], list[str]]:
    """A thousand copies of the ledger (its chains by name), each with one tampering of one kind in
    one chain: how many of each kind were made, and those verification did not name at their chain
    and entry first."""
    names = sorted(chains)
    kinds = ["edit", "delete", "swap", "insert", "truncate"]
    counts: Counter[str] = Counter()
    missed: list[str] = []
    for _ in range(1000):
        name = rng.choice(names) if len(names) > 1 else names[0]
        tampered, expected, label = _mutate(chains[name], rng, rng.choice(kinds), name)
        counts[label] += 1
        problems = verify(_flat({**chains, name: tampered}), checkpoints, KEYS)
        if not problems or (problems[0].chain, problems[0].seq) != (name, expected):
            missed.append(f"{label} at {name!r} {expected}: {problems[:2]}")
    return counts, missed


def _flat(chains: dict[str, list[Entry]]) -> list[Entry]:
    return [e for name in sorted(chains) for e in chains[name]]


def test_every_single_tampering_is_caught_at_the_entry_it_touched(ledger) -> None:
    entries, checkpoints = ledger
    counts, missed = _tampered_a_thousand_times({"": entries}, checkpoints, random.Random(20261129))
    print("mutations detected at the right entry, per kind:", dict(sorted(counts.items())))
    assert not missed, f"{len(missed)} of 1000 mutations not located: {missed[:5]}"
    assert sum(counts.values()) == 1000 and all(
        counts[k] >= 100 for k in ["delete", "swap", "insert", "truncate"]
    )
    assert counts["edit"] >= 50 and counts["edit+rehash"] >= 50
    assert verify(entries, checkpoints, KEYS) == [], "every mutation worked on a copy"


def test_reasons_say_what_happened(ledger) -> None:
    entries, checkpoints = ledger

    def first(tampered: list[Entry]) -> Problem:
        return verify(tampered, checkpoints, KEYS)[0]

    record = {**entries[41].record, "topic": "forged"}
    assert first(entries[:41] + [replace(entries[41], record=record)] + entries[42:]) == Problem(
        42, "entry 42: hash mismatch: its record (or seq or link) was changed after it was written"
    )
    rewritten = replace(entries[41], record=record, hash=entry_hash(42, record, entries[41].prev_hash))
    problem = first(entries[:41] + [rewritten] + entries[42:])
    assert problem.seq == 42 and "rewritten and its hash recomputed" in problem.reason
    assert first(entries[:41] + entries[44:]) == Problem(
        42, "entries 42..44 missing: the ledger jumps from entry 41 to 45"
    )
    assert "out of order" in first(entries[:41] + [entries[42], entries[41]] + entries[43:]).reason
    truncated = first(entries[:290])
    assert truncated.seq == 291 and truncated.reason.startswith("ledger truncated: checkpoint of")
    assert "covers 300 entries" in truncated.reason
    last = entries[-1]
    record = {**last.record, "topic": "forged"}
    problem = first(
        entries[:-1] + [replace(last, record=record, hash=entry_hash(300, record, last.prev_hash))]
    )
    assert problem.seq == 300 and "rewritten" in problem.reason and "251..300" in problem.reason


def test_a_forged_entry_with_a_correct_link_is_named_too(ledger) -> None:
    """Inserted with the true predecessor's hash: locally perfect, but the chain then forks."""
    entries, checkpoints = ledger
    record = {"topic": "case.closed", "event": {"event_type": "case.closed"}}
    forged = Entry(
        seq=120, record=record, prev_hash=entries[118].hash, hash=entry_hash(120, record, entries[118].hash)
    )
    tampered = entries[:119] + [forged] + entries[119:]
    assert verify(tampered, checkpoints, KEYS)[0].seq == 120
    # Even with no checkpoint to ask, the fork gives it away.
    assert verify(tampered, [], KEYS)[0].seq == 120
    # A replayed copy of an old entry is itself the intruder.
    replayed = verify(entries[:119] + [entries[49]] + entries[119:], checkpoints, KEYS)[0]
    assert replayed == Problem(120, "entry 120 missing: its place holds a second copy of entry 50")


def test_a_record_that_is_not_json_is_a_mismatch_not_a_crash(ledger) -> None:
    entries, checkpoints = ledger
    tampered = list(entries)
    tampered[9] = replace(entries[9], record={"x": float("nan"), "y": {1, 2}})
    assert verify(tampered, checkpoints, KEYS)[0].seq == 10


def test_forged_checkpoints_are_reported(ledger) -> None:
    entries, checkpoints = ledger
    hashes = [e.hash for e in entries]
    good = checkpoints[1]

    bad_signature = replace(good, signature=bytes([good.signature[0] ^ 1]) + good.signature[1:])
    [problem] = verify(entries, [bad_signature], KEYS)
    assert problem.seq is None and "bad signature" in problem.reason

    outsider = Ed25519PrivateKey.generate()
    impostor = _checkpoint(entries, 100, outsider, KEY_ID)  # a stranger's key under our key id
    [problem] = verify(entries, [impostor], KEYS)
    assert "bad signature" in problem.reason
    unknown = _checkpoint(entries, 100, outsider, "intruder")
    [problem] = verify(entries, [unknown], KEYS)
    assert problem.seq is None and "unknown key" in problem.reason and "'intruder'" in problem.reason

    # A root moved while the signature kept: the signature breaks.
    moved = replace(good, root=hashlib.sha256(b"other").digest())
    assert "bad signature" in verify(entries, [moved], KEYS)[0].reason
    # Validly signed over the wrong entries: a larger checkpoint shows the checkpoint is what lies...
    lie = make_checkpoint(
        hashes[:119] + [hashlib.sha256(b"x").digest()], KEY, KEY_ID, "2026-11-29T07:00:00+00:00"
    )
    [problem] = verify(entries, [*checkpoints, lie], KEYS)
    assert (
        problem.seq is None
        and "checkpoint is false" in problem.reason
        and "over 120 entries" in problem.reason
    )
    # ...and without one, the checkpoint is reported against the entry it covers last.
    last_lie = make_checkpoint(
        hashes[:299] + [hashlib.sha256(b"x").digest()], KEY, KEY_ID, checkpoints[-1].created_at
    )
    [problem] = verify(entries, [*checkpoints[:-1], last_lie], KEYS)
    assert problem.seq == 300 and "checkpoint" in problem.reason and "Merkle root differs" in problem.reason
    # A forged checkpoint proves nothing: one claiming more entries is not taken as truncation.
    inflated = replace(checkpoints[-1], size=400)
    assert [p.seq for p in verify(entries, [inflated], KEYS)] == [None]


# --- a sharded ledger: one chain per partition of the ledger's input, and the chain of before -----

CHAINS = ["case.assessed/0", "case.reported/0", "case.reported/1", "referral.to.police/2"]


@pytest.fixture(scope="module")
def sharded(ledger) -> tuple[dict[str, list[Entry]], list[Checkpoint]]:
    """The 300 entries of `ledger` as the legacy chain with its version 1 checkpoints, then four
    named chains grown in turns, a version 2 checkpoint over every chain each 60 entries."""
    legacy, checkpoints = ledger
    rng = random.Random(2026_12_06)
    cases = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(40)]
    chains: dict[str, list[Entry]] = {"": list(legacy), **{name: [] for name in CHAINS}}
    checkpoints = list(checkpoints)
    for n in range(1, 481):
        name = rng.choice(CHAINS)
        chain = chains[name]
        chain.append(append(chain[-1] if chain else None, _record(rng, n, cases), chain=name))
        if n % 60 == 0:
            created_at = (START + timedelta(hours=6, minutes=n)).isoformat()
            hashes = {k: [e.hash for e in v] for k, v in chains.items()}
            checkpoints.append(make_chains_checkpoint(hashes, KEY, KEY_ID, created_at))
    return chains, checkpoints


def test_a_sharded_ledger_verifies_and_its_checkpoints_name_every_chain(sharded) -> None:
    chains, checkpoints = sharded
    assert verify(_flat(chains), checkpoints, KEYS) == []
    last = checkpoints[-1]
    assert {h.chain for h in last.heads} == {"", *CHAINS}
    assert last.size == 300 + 480 and sum(h.size for h in last.heads) == last.size
    assert Checkpoint.from_json(last.to_json()) == last and last.signature_valid(KEY.public_key())
    # An entry's hash covers its chain: the same record at the same place in another chain differs.
    first = chains[CHAINS[0]][0]
    assert entry_hash(1, first.record, GENESIS, CHAINS[1]) != first.hash
    assert entry_hash(1, first.record, GENESIS, CHAINS[0]) == first.hash


def test_every_single_tampering_of_a_sharded_ledger_is_caught_at_its_chain_and_entry(sharded) -> None:
    chains, checkpoints = sharded
    counts, missed = _tampered_a_thousand_times(chains, checkpoints, random.Random(20261206))
    print(
        "mutations of a sharded ledger detected at the right entry, per kind:", dict(sorted(counts.items()))
    )
    assert not missed, f"{len(missed)} of 1000 mutations not located: {missed[:5]}"
    assert all(counts[k] >= 100 for k in ["delete", "swap", "insert", "truncate"])
    assert verify(_flat(chains), checkpoints, KEYS) == [], "every mutation worked on a copy"


def test_an_entry_moved_to_another_chain_or_a_chain_removed_is_named(sharded) -> None:
    chains, checkpoints = sharded
    moved = replace(chains[CHAINS[1]][4], chain=CHAINS[2])
    tampered = {**chains, CHAINS[1]: chains[CHAINS[1]][:4] + chains[CHAINS[1]][5:]}
    tampered[CHAINS[2]] = [*chains[CHAINS[2]], moved]
    problems = verify(_flat(tampered), checkpoints, KEYS)
    assert (CHAINS[1], 5) in {(p.chain, p.seq) for p in problems}
    assert problems[0].reason.startswith(f"chain {problems[0].chain}: ")
    gone = verify(_flat({k: v for k, v in chains.items() if k != CHAINS[3]}), checkpoints, KEYS)
    assert (gone[0].chain, gone[0].seq) == (CHAINS[3], 1) and "truncated" in gone[0].reason


def test_a_checkpoint_whose_heads_do_not_make_its_root_is_refused(sharded) -> None:
    chains, checkpoints = sharded
    last = checkpoints[-1]
    head = last.heads[1]
    forged = replace(last, heads=(last.heads[0], replace(head, size=head.size - 1), *last.heads[2:]))
    problems = verify(_flat(chains), [*checkpoints[:-1], forged], KEYS)
    assert [p.reason for p in problems if p.seq is None] == [
        f"checkpoint of {last.created_at} (key {KEY_ID!r}) over {last.size} entries: "
        "its chains' heads do not make its signed root"
    ]
    # A version 1 signature does not pass for a version 2 one, nor the other way round.
    assert not replace(last, heads=()).signature_valid(KEY.public_key())
