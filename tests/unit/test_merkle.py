"""The audit ledger's Merkle tree against RFC 6962 §2.1: roots, audit paths and consistency
proofs, checked against a literal recursive reading of the RFC and against tampering."""

from __future__ import annotations

import hashlib

import pytest

from services.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def reference_mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) written as the RFC states it, with nothing shared with the module under test."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01" + reference_mth(leaves[:k]) + reference_mth(leaves[k:]))


def data(n: int, tag: bytes = b"entry") -> list[bytes]:
    return [tag + b"-" + str(i).encode() for i in range(n)]


def hashes(n: int) -> list[bytes]:
    return [leaf_hash(d) for d in data(n)]


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


# --- roots ---------------------------------------------------------------------------------------


def test_empty_tree_is_sha256_of_nothing():
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle_root([]) == EMPTY_ROOT
    assert root_from_leaf_hashes([]) == EMPTY_ROOT


def test_one_leaf_is_its_prefixed_hash():
    assert merkle_root([b"only"]) == sha256(b"\x00only") == leaf_hash(b"only")


def test_two_leaves_are_one_node():
    assert merkle_root([b"a", b"b"]) == node_hash(leaf_hash(b"a"), leaf_hash(b"b"))
    assert node_hash(b"L", b"R") == sha256(b"\x01LR")


def test_agrees_with_the_rfc_read_literally_for_every_size_up_to_1000():
    leaves = data(1000)
    leaf_hashes = [leaf_hash(d) for d in leaves]
    for n in range(1, 1001):
        expected = reference_mth(leaves[:n])
        assert merkle_root(leaves[:n]) == expected, n
        assert root_from_leaf_hashes(leaf_hashes[:n]) == expected, n


def test_matches_published_rfc6962_vectors():
    # The leaf data and roots used by the Certificate Transparency reference implementations.
    leaves = [
        bytes.fromhex(h)
        for h in (
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        )
    ]
    roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    for n, root in enumerate(roots, start=1):
        assert merkle_root(leaves[:n]).hex() == root, n


def test_large_tree_needs_no_recursion():
    # Well past any recursion limit if the tree were built by naive recursion over leaves.
    n = 200_003
    leaves = [i.to_bytes(4, "big") for i in range(n)]
    assert merkle_root(leaves) == reference_mth(leaves)


def test_domain_separation_blocks_second_preimages():
    a, b = b"left", b"right"
    two_leaf_root = merkle_root([a, b])
    # The interior node's preimage, offered as if it were one leaf, must not reproduce the root.
    assert two_leaf_root != leaf_hash(leaf_hash(a) + leaf_hash(b))
    assert two_leaf_root != leaf_hash(a + b)
    assert two_leaf_root != merkle_root([leaf_hash(a) + leaf_hash(b)])
    assert two_leaf_root != sha256(leaf_hash(a) + leaf_hash(b))
    assert leaf_hash(b"x") != sha256(b"x")


def test_changing_any_single_leaf_changes_the_root():
    for n in (1, 2, 3, 5, 8, 13, 31, 64, 100):
        leaves = data(n)
        root = merkle_root(leaves)
        for i in range(n):
            tampered = list(leaves)
            tampered[i] = leaves[i] + b"!"
            assert merkle_root(tampered) != root, (n, i)


def test_order_matters():
    assert merkle_root([b"a", b"b"]) != merkle_root([b"b", b"a"])


# --- inclusion -----------------------------------------------------------------------------------


def test_inclusion_proofs_verify_for_every_leaf_up_to_64():
    all_hashes = hashes(64)
    for size in range(1, 65):
        tree = all_hashes[:size]
        root = root_from_leaf_hashes(tree)
        for index in range(size):
            proof = inclusion_proof(tree, index)
            assert verify_inclusion(tree[index], index, size, proof, root), (size, index)


def test_inclusion_proofs_fail_when_anything_is_wrong():
    all_hashes = hashes(64)
    other_root = root_from_leaf_hashes(hashes(3) + [leaf_hash(b"intruder")])
    for size in range(1, 65):
        tree = all_hashes[:size]
        root = root_from_leaf_hashes(tree)
        for index in range(size):
            proof = inclusion_proof(tree, index)
            leaf = tree[index]
            for wrong_index in {index - 1, index + 1, size, -1}:
                assert not verify_inclusion(leaf, wrong_index, size, proof, root), (size, index, wrong_index)
            assert not verify_inclusion(leaf_hash(b"forged"), index, size, proof, root)
            assert not verify_inclusion(flip(leaf), index, size, proof, root)
            assert not verify_inclusion(leaf, index, size, proof, other_root)
            assert not verify_inclusion(leaf, index, size, proof, flip(root))
            assert not verify_inclusion(leaf, index, size, proof + [root], root)
            if proof:
                assert not verify_inclusion(leaf, index, size, proof[:-1], root)
                for j in range(len(proof)):
                    bent = list(proof)
                    bent[j] = flip(bent[j])
                    assert not verify_inclusion(leaf, index, size, bent, root), (size, index, j)


def test_inclusion_proof_matches_the_rfc_examples():
    # RFC 6962 §2.1.3's seven-leaf tree: the path for d0 is [b, h, l] and for d3 is [c, g, l].
    d = hashes(7)
    a, b, c, dd, e, f, j = d
    g, h, i = node_hash(a, b), node_hash(c, dd), node_hash(e, f)
    k, l = node_hash(g, h), node_hash(i, j)  # noqa: E741 - the names of RFC 6962’s figure
    assert inclusion_proof(d, 0) == [b, h, l]
    assert inclusion_proof(d, 3) == [c, g, l]
    assert inclusion_proof(d, 4) == [f, j, k]
    assert inclusion_proof(d, 6) == [i, k]


def test_inclusion_proof_rejects_an_index_outside_the_tree():
    with pytest.raises(IndexError):
        inclusion_proof(hashes(4), 4)
    with pytest.raises(IndexError):
        inclusion_proof([], 0)


# --- consistency ---------------------------------------------------------------------------------


def test_consistency_proofs_verify_for_every_pair_up_to_40():
    all_hashes = hashes(40)
    roots = [root_from_leaf_hashes(all_hashes[:n]) for n in range(41)]
    for new_size in range(0, 41):
        tree = all_hashes[:new_size]
        for old_size in range(0, new_size + 1):
            proof = consistency_proof(tree, old_size)
            assert verify_consistency(old_size, roots[old_size], new_size, roots[new_size], proof), (
                old_size,
                new_size,
            )


def test_consistency_fails_when_any_old_leaf_was_changed():
    all_hashes = hashes(40)
    for new_size in range(1, 41):
        for old_size in range(1, new_size + 1):
            old_root = root_from_leaf_hashes(all_hashes[:old_size])
            for i in range(old_size):
                # A ledger that rewrote entry i and proves consistency from its rewritten history.
                rewritten = list(all_hashes[:new_size])
                rewritten[i] = leaf_hash(b"rewritten")
                proof = consistency_proof(rewritten, old_size)
                new_root = root_from_leaf_hashes(rewritten)
                assert not verify_consistency(old_size, old_root, new_size, new_root, proof), (
                    old_size,
                    new_size,
                    i,
                )


def test_consistency_fails_for_wrong_sizes_roots_or_proof():
    all_hashes = hashes(40)
    for new_size in range(2, 41):
        new_root = root_from_leaf_hashes(all_hashes[:new_size])
        for old_size in range(1, new_size):
            old_root = root_from_leaf_hashes(all_hashes[:old_size])
            proof = consistency_proof(all_hashes[:new_size], old_size)
            assert not verify_consistency(old_size, flip(old_root), new_size, new_root, proof)
            assert not verify_consistency(old_size, old_root, new_size, flip(new_root), proof)
            assert not verify_consistency(new_size, old_root, old_size, new_root, proof)
            assert not verify_consistency(old_size, old_root, new_size, new_root, proof[:-1])
            assert not verify_consistency(old_size, old_root, new_size, new_root, proof + [new_root])
            for j in range(len(proof)):
                bent = list(proof)
                bent[j] = flip(bent[j])
                assert not verify_consistency(old_size, old_root, new_size, new_root, bent), (
                    old_size,
                    new_size,
                    j,
                )


def test_consistency_edge_cases():
    tree = hashes(5)
    root = root_from_leaf_hashes(tree)
    assert consistency_proof(tree, 5) == []
    assert consistency_proof(tree, 0) == []
    assert verify_consistency(0, EMPTY_ROOT, 5, root, [])
    assert not verify_consistency(0, root, 5, root, [])
    assert verify_consistency(5, root, 5, root, [])
    assert not verify_consistency(5, root, 5, flip(root), [])
    assert not verify_consistency(5, root, 5, root, [root])
    with pytest.raises(ValueError):
        consistency_proof(tree, 6)
    with pytest.raises(ValueError):
        consistency_proof(tree, -1)


def test_consistency_proof_matches_the_rfc_examples():
    # RFC 6962 §2.1.3: between the 3-leaf and 7-leaf trees the proof is [c, d, g, l];
    # between 4 and 7 it is [l]; between 6 and 7 it is [i, j, k].
    d = hashes(7)
    a, b, c, dd, e, f, j = d
    g, h, i = node_hash(a, b), node_hash(c, dd), node_hash(e, f)
    k, l = node_hash(g, h), node_hash(i, j)  # noqa: E741 - the names of RFC 6962’s figure
    assert consistency_proof(d, 3) == [c, dd, g, l]
    assert consistency_proof(d, 4) == [l]
    assert consistency_proof(d, 6) == [i, j, k]
