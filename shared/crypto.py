"""Per-field encryption at rest of a child's personal data (AES-GCM bound to the record id,
rotatable keys) and keyed digests to find a child without storing identifiers in clear."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.phone import normalise_phone

KEY_BYTES = 32
LOOKUP_KEY_MIN_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
TOKEN_VERSION = 1
KEY_ID_PATTERN = re.compile(r"[a-z0-9-]{1,16}")

# Development defaults, derived from readable text so nobody mistakes them for real secrets;
# Settings refuses them when CPNET_ENVIRONMENT=production.
INSECURE_DEV_KEY_ID = "dev"
INSECURE_DEV_ENCRYPTION_KEY = hashlib.sha256(b"cpnet insecure development key").digest()
INSECURE_DEV_LOOKUP_KEY = hashlib.sha256(b"cpnet insecure development lookup key").digest()
# The Ed25519 seed the audit service signs checkpoints with when CPNET_AUDIT_SIGNING_KEY is empty.
INSECURE_DEV_AUDIT_SIGNING_KEY = hashlib.sha256(b"cpnet insecure development audit signing key").digest()
# The Ed25519 seed bearer tokens are signed with when CPNET_AUTH_SIGNING_KEY is empty (shared/token_keys.py).
INSECURE_DEV_AUTH_SIGNING_KEY = hashlib.sha256(b"cpnet insecure development token signing key").digest()
# Every development key: public, so production refuses each of them in any key setting.
INSECURE_DEV_KEYS = (
    INSECURE_DEV_ENCRYPTION_KEY,
    INSECURE_DEV_LOOKUP_KEY,
    INSECURE_DEV_AUDIT_SIGNING_KEY,
    INSECURE_DEV_AUTH_SIGNING_KEY,
)
INSECURE_DEV_ENCRYPTION_KEYS = (
    f"{INSECURE_DEV_KEY_ID}:{base64.b64encode(INSECURE_DEV_ENCRYPTION_KEY).decode('ascii')}"
)
INSECURE_DEV_LOOKUP_KEY_B64 = base64.b64encode(INSECURE_DEV_LOOKUP_KEY).decode("ascii")


class KeySettings(Protocol):
    """The settings the keys are read from (shared.settings.Settings is one). Named here, not
    imported: the settings validate their keys with this module, so it cannot import them back."""

    encryption_keys: str
    encryption_active_key: str
    lookup_key: str


class DecryptionError(ValueError):
    """A token that does not decrypt; the message never carries plaintext or key material."""


def is_key_id(value: str) -> bool:
    return KEY_ID_PATTERN.fullmatch(value) is not None


def decode_key(text: str, *, what: str, min_bytes: int, max_bytes: int | None = None) -> bytes:
    """Decode standard or urlsafe base64 (padding optional); errors never quote the input."""
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        key = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None
    if len(key) < min_bytes or (max_bytes is not None and len(key) > max_bytes):
        wanted = f"{min_bytes}" if max_bytes == min_bytes else f"at least {min_bytes}"
        raise ValueError(f"{what} decodes to {len(key)} bytes, needs {wanted}")
    return key


def parse_key_ring(text: str) -> dict[str, bytes]:
    """Parse "id:base64key,id2:base64key" into {id: 32-byte key}."""
    ring: dict[str, bytes] = {}
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    if not entries:
        raise ValueError("no keys given; expected 'id:base64key,id2:base64key'")
    for position, entry in enumerate(entries, start=1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep:
            raise ValueError(f"entry {position} is not 'id:base64key'")
        # An invalid id may be a key pasted into the wrong place, so it is not quoted back.
        if not is_key_id(key_id):
            raise ValueError(f"entry {position}: key id must match ^[a-z0-9-]{{1,16}}$")
        if key_id in ring:
            raise ValueError(f"key id {key_id!r} appears twice")
        ring[key_id] = decode_key(encoded, what=f"key {key_id!r}", min_bytes=KEY_BYTES, max_bytes=KEY_BYTES)
    return ring


class FieldCipher:
    """AES-256-GCM for one field value; the record id is the associated data, so a ciphertext
    copied into another row does not decrypt.

    Token layout: version (1 byte) | key id length (1 byte) | key id (ASCII) | nonce (12) |
    ciphertext + tag (16). The key id lets old keys keep decrypting after rotation.
    """

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if not keys:
            raise ValueError("FieldCipher needs at least one key")
        self._aeads: dict[str, AESGCM] = {}
        for key_id, key in keys.items():
            if not is_key_id(key_id):
                raise ValueError("key ids must match ^[a-z0-9-]{1,16}$")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} is {len(key)} bytes, needs {KEY_BYTES}")
            self._aeads[key_id] = AESGCM(bytes(key))
        if active_key_id not in self._aeads:
            raise ValueError(f"active key id {active_key_id!r} is not among the keys")
        self._active = active_key_id

    @classmethod
    def from_settings(cls, settings: KeySettings) -> FieldCipher:
        return cls(parse_key_ring(settings.encryption_keys), settings.encryption_active_key)

    @property
    def active_key_id(self) -> str:
        return self._active

    def encrypt(self, plaintext: bytes, *, record_id: str) -> bytes:
        key_id = self._active.encode("ascii")
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aeads[self._active].encrypt(nonce, bytes(plaintext), _associated_data(record_id))
        return bytes((TOKEN_VERSION, len(key_id))) + key_id + nonce + sealed

    def decrypt(self, token: bytes, *, record_id: str) -> bytes:
        key_id, nonce, sealed = _parse_token(token)
        aead = self._aeads.get(key_id)
        if aead is None:
            raise DecryptionError(f"no key with id {key_id!r} is configured")
        try:
            return aead.decrypt(nonce, sealed, _associated_data(record_id))
        except InvalidTag:
            raise DecryptionError(
                "ciphertext does not authenticate (wrong record id, wrong key or tampered)"
            ) from None

    def encrypt_json(self, obj: Any, *, record_id: str) -> bytes:
        text = json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        return self.encrypt(text.encode("utf-8"), record_id=record_id)

    def decrypt_json(self, token: bytes, *, record_id: str) -> Any:
        plaintext = self.decrypt(token, record_id=record_id)
        try:
            return json.loads(plaintext)
        except (UnicodeDecodeError, json.JSONDecodeError):
            # `from None`: a JSONDecodeError holds the whole decrypted document.
            raise DecryptionError("decrypted value is not JSON") from None

    def needs_rotation(self, token: bytes) -> bool:
        """True when the token was sealed with a key other than the active one."""
        key_id, _, _ = _parse_token(token)
        return key_id != self._active

    def reencrypt(self, token: bytes, *, record_id: str) -> bytes:
        """The same plaintext sealed with the active key (for a rotation job)."""
        return self.encrypt(self.decrypt(token, record_id=record_id), record_id=record_id)


def _associated_data(record_id: str) -> bytes:
    # An empty record id would bind the ciphertext to nothing, defeating the row binding.
    if not record_id:
        raise ValueError("record_id must not be empty")
    return record_id.encode("utf-8")


def _parse_token(token: bytes) -> tuple[str, bytes, bytes]:
    if len(token) < 2:
        raise DecryptionError("token is too short")
    if token[0] != TOKEN_VERSION:
        raise DecryptionError(f"unsupported token version {token[0]}")
    id_end = 2 + token[1]
    key_id_bytes = token[2:id_end]
    if len(token) < id_end + NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("token is too short")
    key_id = key_id_bytes.decode("ascii", errors="replace")
    if not is_key_id(key_id):
        raise DecryptionError("token carries a malformed key id")
    return key_id, token[id_end : id_end + NONCE_BYTES], token[id_end + NONCE_BYTES :]


class LookupHasher:
    """HMAC-SHA256 digests for exact-match lookups (national id; name + birth date + place; a reporter's
    phone).

    Its key is separate from the encryption keys: a leaked digest table must not help decrypt,
    and without the key the digests cannot be brute-forced from the small space of ids.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < LOOKUP_KEY_MIN_BYTES:
            raise ValueError(f"lookup key is {len(key)} bytes, needs at least {LOOKUP_KEY_MIN_BYTES}")
        self._key = bytes(key)

    @classmethod
    def from_settings(cls, settings: KeySettings) -> LookupHasher:
        return cls(decode_key(settings.lookup_key, what="lookup key", min_bytes=LOOKUP_KEY_MIN_BYTES))

    def digest(self, *parts: str) -> str:
        if not parts:
            raise ValueError("digest needs at least one part")
        mac = hmac.HMAC(self._key, hashes.SHA256())
        for part in parts:
            # Length-prefixing keeps ("ab", "c") and ("a", "bc") apart.
            encoded = part.encode("utf-8")
            mac.update(len(encoded).to_bytes(8, "big"))
            mac.update(encoded)
        return mac.finalize().hex()

    def national_id_digest(self, national_id: str) -> str:
        """The lookup digest of a national id number, normalised first."""
        return self.digest("national_id", normalise_national_id(national_id))

    def identity_digest(self, name: str, birth_date: date | str, jurisdiction: str) -> str:
        """The lookup digest of normalised name + birth date (ISO) + territory code."""
        born = birth_date.isoformat() if isinstance(birth_date, date) else birth_date.strip()
        return self.digest("identity", normalise_name(name), born, jurisdiction.strip())

    def reporter_phone_digest(self, phone: str) -> str:
        """The lookup digest of a reporter's phone number, normalised (shared/phone.py); its own label,
        so it never equals a national id's digest of the same digits."""
        return self.digest("reporter_phone", normalise_phone(phone))


# Punctuation, separators (spaces), controls and format characters such as zero-width spaces.
_DROPPED_CATEGORIES = ("P", "Z", "Cc", "Cf")


def normalise_name(name: str) -> str:
    """NFKC + casefold, without whitespace or punctuation: "Wang  Xiao-Ming" == "wangxiaoming"."""
    # NFKC again after casefold, since casefolding can leave a string not in NFKC.
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return "".join(ch for ch in folded if not unicodedata.category(ch).startswith(_DROPPED_CATEGORIES))


def normalise_national_id(value: str) -> str:
    """Without spaces and with an upper-case check character X."""
    # NFKC first: IME input often gives full-width digits and spaces.
    compact = "".join(unicodedata.normalize("NFKC", value).split())
    return compact[:-1] + "X" if compact.endswith("x") else compact
