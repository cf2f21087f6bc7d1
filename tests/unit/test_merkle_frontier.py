"""The growing Merkle tree the ledger's checkpoints keep between runs: fed in any slices, it
gives the root RFC 6962 gives over every leaf so far, and one pass gives every prefix's root."""

from __future__ import annotations

import random

from services.audit.merkle import EMPTY_ROOT, Frontier, leaf_hash, prefix_roots, root_from_leaf_hashes
from tests.unit.test_merkle import reference_mth

LEAVES = [f"entry-{i}".encode() for i in range(300)]
HASHES = [leaf_hash(leaf) for leaf in LEAVES]


def test_fed_in_random_slices_it_gives_the_rfc_root_after_each():
    rng = random.Random(10)
    frontier = Frontier()
    assert frontier.root() == EMPTY_ROOT
    while frontier.size < len(HASHES):
        step = rng.randint(1, 17)
        frontier.extend(HASHES[frontier.size : frontier.size + step])
        assert frontier.root() == reference_mth(LEAVES[: frontier.size]), frontier.size


def test_one_pass_gives_the_root_of_every_prefix_asked_for():
    sizes = [0, 1, 2, 3, 7, 8, 9, 64, 65, 200, 300, 301]
    roots = prefix_roots(iter(HASHES), sizes)
    assert set(roots) == set(sizes) - {301}, "a prefix longer than the leaves has no root"
    for size in set(sizes) - {301}:
        assert roots[size] == root_from_leaf_hashes(HASHES[:size]) == reference_mth(LEAVES[:size]), size
