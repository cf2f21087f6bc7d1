"""How strong a production secret or key is: its length, an entropy estimate, and kinship with
the public development values — judged without ever repeating the value in a message."""

from __future__ import annotations

import base64
import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

SECRET_MIN_CHARS = 32
# Estimates over a sample this short are rough, so the bars sit well below what a generated
# value reaches (`secrets.token_hex(16)` ≈ 91–130 bits, 32 random bytes ≈ 138–160) and well
# above what a typed one does ("a" * 32: 0, "abab…": 32, "abcd…": 7).
SECRET_MIN_BITS = 80
SECRET_MIN_DISTINCT = 8
KEY_MIN_BITS = 120
KEY_MIN_DISTINCT = 16
# Words that mark a value somebody typed as a stand-in, when they make up a fifth of it or more: a
# generated value holds one of them only by luck, and then as a small part of it (a five-letter word
# turns up in about one random base64 secret in a hundred thousand; it is 11 % of its 44 letters).
PLACEHOLDER_SHARE = 0.2
PLACEHOLDER_WORDS = (
    "insecure",
    "development",
    "changeme",
    "secret",
    "password",
    "default",
    "example",
    "placeholder",
    "cpnet",
)
GENERATE_HINT = "generate one as deploy/README.md shows"


def estimated_bits(symbols: Sequence[int], modulus: int) -> float:
    """A Shannon estimate of the information in a sequence: its length times the lower of the
    per-symbol entropy of the values and of the steps between neighbours — so repeated runs
    ("aaaa", "abab") and sequences ("abcd", bytes 0, 1, 2 …) both count as little."""
    if len(symbols) < 2:
        return 0.0
    steps = [(after - before) % modulus for before, after in zip(symbols, symbols[1:], strict=False)]
    return len(symbols) * min(_entropy(symbols), _entropy(steps))


def _entropy(symbols: Sequence[int]) -> float:
    total = len(symbols)
    return max(0.0, -sum(n / total * math.log2(n / total) for n in Counter(symbols).values()))


def folded(text: str) -> str:
    """The letters and digits of a text, case-folded: what remains of a value once spacing,
    punctuation and case — the cheap ways to vary a known secret — are taken away."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def encodings(key: bytes) -> set[str]:
    """The folded spellings of a key in the encodings an operator might paste it in."""
    spelled = (
        base64.b64encode(key),
        base64.urlsafe_b64encode(key),
        base64.b32encode(key),
        key.hex().encode(),
    )
    return {folded(text.decode("ascii")) for text in spelled}


def secret_problem(
    text: str, *, public_texts: Iterable[str] = (), public_keys: Iterable[bytes] = ()
) -> str | None:
    """Why a text secret (a token-signing secret, a password) is unfit for production, or None."""
    value = folded(text)
    for known in public_texts:
        if folded(known) and folded(known) in value:
            return "is a variant of the public development value"
    if spells_a_key(text, public_keys):
        return "is a public development key"
    if placeholder_share(value) >= PLACEHOLDER_SHARE:
        return "looks like a placeholder (contains a word such as 'secret', 'changeme' or 'insecure')"
    if len(text) < SECRET_MIN_CHARS:
        return f"is {len(text)} characters, needs at least {SECRET_MIN_CHARS}, {GENERATE_HINT}"
    bits = estimated_bits([ord(ch) for ch in text], modulus=0x110000)
    if bits < SECRET_MIN_BITS or len(set(text)) < SECRET_MIN_DISTINCT:
        return f"is too predictable (about {bits:.0f} bits, needs {SECRET_MIN_BITS}), {GENERATE_HINT}"
    return None


def placeholder_share(value: str) -> float:
    """The share of a folded value's characters that belong to a placeholder word."""
    covered: set[int] = set()
    for word in PLACEHOLDER_WORDS:
        start = value.find(word)
        while start >= 0:
            covered.update(range(start, start + len(word)))
            start = value.find(word, start + 1)
    return len(covered) / len(value) if value else 0.0


def spells_a_key(text: str, keys: Iterable[bytes]) -> bool:
    """True when the text holds one of the keys in base64, base32 or hex, whatever its case."""
    value = folded(text)
    return any(spelling in value for key in keys for spelling in encodings(key))


def key_problem(key: bytes, *, text: str, public_keys: Sequence[bytes] = ()) -> str | None:
    """Why key material is unfit for production, or None: `key` as decoded, `text` as written
    (the development key re-encoded in hex decodes as base64 to other bytes, yet is public).
    Key lengths are checked where the key is decoded; this judges what the bytes are."""
    if any(known in key for known in public_keys) or spells_a_key(text, public_keys):
        return "is a public development key"
    bits = estimated_bits(list(key), modulus=256)
    if bits < KEY_MIN_BITS or len(set(key)) < KEY_MIN_DISTINCT:
        return f"has too little entropy (about {bits:.0f} bits, needs {KEY_MIN_BITS}), {GENERATE_HINT}"
    return None
