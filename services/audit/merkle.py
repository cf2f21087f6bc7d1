"""Merkle tree hashes, audit paths and consistency proofs as RFC 6962 §2.1 defines them: leaves
and interior nodes hashed with distinct prefixes, so a leaf can never pass for a node."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The RFC's k for n > 1: the largest power of two strictly smaller than n."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """A growing tree's complete subtrees (at most log2 n of them, merged as in binary counting):
    enough to add leaves and to take the root of every leaf so far without the earlier leaves,
    so a ledger's checkpoints cost the entries since the last one, not the whole ledger."""

    def __init__(self) -> None:
        self.size = 0
        self._subtrees: list[tuple[int, bytes]] = []  # (size, root), sizes strictly decreasing

    @classmethod
    def restore(cls, size: int, roots: Sequence[bytes]) -> Frontier:
        """The frontier of a tree of `size` leaves from its subtrees' roots (as `roots()` gave
        them): their sizes are the powers of two of `size`'s binary digits, largest first."""
        sizes = [1 << bit for bit in reversed(range(size.bit_length())) if size >> bit & 1]
        if len(sizes) != len(roots) or not all(_is_hash(r) for r in roots):
            raise ValueError(f"a tree of {size} leaves has {len(sizes)} subtrees of 32-byte roots")
        frontier = cls()
        frontier.size, frontier._subtrees = size, list(zip(sizes, roots, strict=True))
        return frontier

    def roots(self) -> list[bytes]:
        """The complete subtrees' roots, largest first: with the size, all the frontier is."""
        return [root for _, root in self._subtrees]

    def extend(self, hashes: Iterable[bytes]) -> None:
        """Add leaves already hashed, in order."""
        stack = self._subtrees
        for h in hashes:
            size, node = 1, h
            while stack and stack[-1][0] == size:
                left_size, left = stack.pop()
                size, node = size + left_size, node_hash(left, node)
            stack.append((size, node))
            self.size += 1

    def root(self) -> bytes:
        """MTH of every leaf so far: the subtrees folded right to left, which is exactly the
        RFC's split at the largest power of two below n."""
        if not self._subtrees:
            return EMPTY_ROOT
        root = self._subtrees[-1][1]
        for _, left in reversed(self._subtrees[:-1]):
            root = node_hash(left, root)
        return root


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaves already hashed. Iterative, so a million leaves cost no recursion."""
    frontier = Frontier()
    frontier.extend(hashes)
    return frontier.root()


def prefix_roots(hashes: Iterable[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """MTH of the first `size` leaves (already hashed) for each of `sizes`, all in one pass over
    the leaves — a ledger's every checkpoint checked in the time of one. Sizes beyond the
    leaves are left out."""
    wanted = sorted(set(sizes))
    roots: dict[int, bytes] = {0: EMPTY_ROOT} if wanted and wanted[0] == 0 else {}
    frontier = Frontier()
    leaves = iter(hashes)
    for size in (s for s in wanted if s > 0):
        frontier.extend(itertools.islice(leaves, size - frontier.size))
        if frontier.size < size:
            break
        roots[size] = frontier.root()
    return roots


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaf data (each leaf is hashed here, not by the caller)."""
    return root_from_leaf_hashes([leaf_hash(leaf) for leaf in leaves])


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of §2.1.1, leaf-side sibling first. Walks down from the root; each step
    hashes only the sibling subtree, so one proof costs O(n) and the loop is only log n deep."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise IndexError(f"leaf index {index} outside a tree of {n} leaves")
    path: list[bytes] = []
    lo, hi, m = 0, n, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(root_from_leaf_hashes(leaf_hashes[lo + k : hi]))
            hi = lo + k
        else:
            path.append(root_from_leaf_hashes(leaf_hashes[lo : lo + k]))
            lo, m = lo + k, m - k
    # The descent met the siblings root-first; the RFC lists them leaf-first.
    path.reverse()
    return path


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Rebuild the root from a leaf hash and its audit path; True only if it is `root` and the
    path had exactly the length a tree of `size` demands."""
    if not (0 <= index < size) or not _is_hash(leaf_hash) or not _is_hash(root):
        return False
    if not all(_is_hash(p) for p in proof):
        return False
    # fn walks the leaf's position up the tree; sn the position of the tree's last node.
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False  # more path than the tree is tall
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # A right edge with no sibling of its own is promoted unchanged: skip those levels.
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) of §2.1.2: the nodes that let a holder of MTH(D[0:m]) rebuild both roots.
    Empty for m = 0 or m = n, where there is nothing to prove."""
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ValueError(f"old size {old_size} outside 0..{n}")
    if old_size in (0, n):
        return []
    # SUBPROOF(m, D[lo:hi], b) unrolled; siblings come out root-first and are reversed at the end.
    proof: list[bytes] = []
    lo, hi, m, whole_old_tree = 0, n, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(root_from_leaf_hashes(leaf_hashes[lo + k : hi]))
            hi = lo + k
        else:
            proof.append(root_from_leaf_hashes(leaf_hashes[lo : lo + k]))
            lo, m, whole_old_tree = lo + k, m - k, False
    # When the old tree is itself a subtree of the new one, the verifier already holds its root.
    if not whole_old_tree:
        proof.append(root_from_leaf_hashes(leaf_hashes[lo:hi]))
    proof.reverse()
    return proof


def verify_consistency(
    old_size: int, old_root: bytes, new_size: int, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff `proof` shows the tree of `new_size` leaves with `new_root` extends, unchanged,
    the tree of `old_size` leaves with `old_root` — i.e. the ledger only grew."""
    if not _consistency_arguments_valid(old_size, old_root, new_size, new_root, proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        # Every tree extends the empty one; its root is fixed, so only that can be checked.
        return not proof and old_root == EMPTY_ROOT
    path = list(proof)
    # A power-of-two old tree is a complete subtree of the new one, and the proof omits its root.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    return _roots_from_consistency_path(old_size, new_size, path) == (old_root, new_root)


def _consistency_arguments_valid(
    old_size: int, old_root: bytes, new_size: int, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether the sizes are in order and the roots and the proof's nodes are all hashes."""
    if not (0 <= old_size <= new_size) or not _is_hash(old_root) or not _is_hash(new_root):
        return False
    return all(_is_hash(p) for p in proof)


def _roots_from_consistency_path(
    old_size: int, new_size: int, path: Sequence[bytes]
) -> tuple[bytes, bytes] | None:
    """The old and the new root rebuilt from one path (the old tree's last full subtree first);
    None if the path is longer or shorter than the new tree is tall."""
    fn, sn = old_size - 1, new_size - 1
    # Levels where the old tree's last node is a right child are already summed into path[0].
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # fr rebuilds the old root, sr the new one, from the same starting node.
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return (fr, sr) if sn == 0 else None
