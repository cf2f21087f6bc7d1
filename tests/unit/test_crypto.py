"""Tests of field encryption, lookup digests, name/id normalisation and the key settings."""

from __future__ import annotations

import base64
import json
import os
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.settings import AuditSettings
from shared.crypto import (
    INSECURE_DEV_AUTH_SIGNING_KEY,
    INSECURE_DEV_ENCRYPTION_KEYS,
    INSECURE_DEV_LOOKUP_KEY_B64,
    DecryptionError,
    FieldCipher,
    LookupHasher,
    normalise_name,
    normalise_national_id,
    parse_key_ring,
)
from shared.settings import Settings
from shared.token_keys import DEV_JWKS, jwks_of

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
SECRET_TEXT = "王小明 110101201001011234".encode()


def _b64(key: bytes, urlsafe: bool = False) -> str:
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(key).decode()


def _production(**overrides: str) -> Settings:
    """The audit service's settings (the common ones and its signing key), in production."""
    values = {
        "environment": "production",
        "encryption_keys": f"k1:{_b64(os.urandom(32))}",
        "encryption_active_key": "k1",
        "lookup_key": _b64(os.urandom(32)),
        "auth_jwks": json.dumps(jwks_of(Ed25519PrivateKey.generate())),
        "audit_signing_key": _b64(os.urandom(32)),
        "database_url": f"postgresql+asyncpg://cpnet:{secrets.token_urlsafe(32)}@db:5432/cpnet",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_username": "cpnet-intake",
        "kafka_password": secrets.token_urlsafe(32),
    }
    values.update(overrides)
    return AuditSettings(**values)


def test_round_trip() -> None:
    cipher = FieldCipher({"a": KEY_A}, "a")
    token = cipher.encrypt(SECRET_TEXT, record_id="child-1")
    assert SECRET_TEXT not in token
    assert cipher.decrypt(token, record_id="child-1") == SECRET_TEXT


def test_json_round_trip_is_compact_and_sorted() -> None:
    cipher = FieldCipher({"a": KEY_A}, "a")
    token = cipher.encrypt_json({"name": "王小明", "age": 9}, record_id="child-1")
    assert cipher.decrypt(token, record_id="child-1") == '{"age":9,"name":"王小明"}'.encode()
    assert cipher.decrypt_json(token, record_id="child-1") == {"name": "王小明", "age": 9}


def test_ciphertext_moved_to_another_record_does_not_decrypt() -> None:
    cipher = FieldCipher({"a": KEY_A}, "a")
    token = cipher.encrypt(SECRET_TEXT, record_id="child-1")
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, record_id="child-2")


@pytest.mark.parametrize("position", [-1, -20, 20])
def test_tampered_ciphertext_does_not_decrypt(position: int) -> None:
    cipher = FieldCipher({"a": KEY_A}, "a")
    token = bytearray(cipher.encrypt(SECRET_TEXT, record_id="child-1"))
    token[position] ^= 0x01
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(token), record_id="child-1")


def test_truncated_or_foreign_tokens_are_decryption_errors() -> None:
    cipher = FieldCipher({"a": KEY_A}, "a")
    token = cipher.encrypt(SECRET_TEXT, record_id="child-1")
    for bad in (b"", token[:10], b"\x07" + token[1:]):
        with pytest.raises(DecryptionError):
            cipher.decrypt(bad, record_id="child-1")


def test_rotation_keeps_old_tokens_readable() -> None:
    old = FieldCipher({"a": KEY_A}, "a")
    token = old.encrypt(SECRET_TEXT, record_id="child-1")
    rotated = FieldCipher({"a": KEY_A, "b": KEY_B}, "b")
    assert rotated.decrypt(token, record_id="child-1") == SECRET_TEXT
    assert rotated.needs_rotation(token)
    fresh = rotated.reencrypt(token, record_id="child-1")
    assert not rotated.needs_rotation(fresh)
    assert rotated.decrypt(fresh, record_id="child-1") == SECRET_TEXT
    with pytest.raises(DecryptionError, match="'b'"):
        old.decrypt(fresh, record_id="child-1")


def test_nonce_differs_for_equal_plaintexts() -> None:
    cipher = FieldCipher({"a": KEY_A}, "a")
    first = cipher.encrypt(SECRET_TEXT, record_id="child-1")
    second = cipher.encrypt(SECRET_TEXT, record_id="child-1")
    header = 1 + 1 + len("a")
    assert first[header : header + 12] != second[header : header + 12]
    assert first != second


def test_decryption_error_carries_no_plaintext_or_key() -> None:
    cipher = FieldCipher({"a": KEY_A}, "a")
    token = cipher.encrypt(SECRET_TEXT, record_id="child-1")
    with pytest.raises(DecryptionError) as caught:
        cipher.decrypt(token, record_id="child-2")
    message = str(caught.value)
    assert "王小明" not in message and "110101" not in message
    assert KEY_A.hex() not in message and _b64(KEY_A) not in message


def test_cipher_rejects_bad_keys() -> None:
    with pytest.raises(ValueError):
        FieldCipher({"a": b"short"}, "a")
    with pytest.raises(ValueError):
        FieldCipher({"Not_An_Id": KEY_A}, "Not_An_Id")
    with pytest.raises(ValueError):
        FieldCipher({"a": KEY_A}, "b")
    with pytest.raises(ValueError):
        FieldCipher({"a": KEY_A}, "a").encrypt(b"x", record_id="")


@pytest.mark.parametrize(
    "name", ["Wang  Xiao-Ming", "wang xiaoming", "WANG XIAOMING", "Ｗａｎｇ　Ｘｉａｏ·ｍｉｎｇ"]
)
def test_normalise_name_latin(name: str) -> None:
    assert normalise_name(name) == "wangxiaoming"


def test_normalise_name_chinese() -> None:
    assert normalise_name("王小明") == normalise_name("王 小明") == normalise_name("王\u200b小明") == "王小明"
    assert normalise_name("王小明") != normalise_name("王小敏")


def test_normalise_national_id() -> None:
    assert normalise_national_id(" 110101 20100101 123x ") == "11010120100101123X"
    assert normalise_national_id("１１０１０１２０１００１０１１２３Ｘ") == "11010120100101123X"
    assert normalise_national_id("110101201001011234") == "110101201001011234"


def test_lookup_digest_is_deterministic_keyed_and_unambiguous() -> None:
    hasher = LookupHasher(KEY_A)
    assert hasher.digest("110101201001011234") == LookupHasher(KEY_A).digest("110101201001011234")
    assert len(hasher.digest("x")) == 64
    assert hasher.digest("x") != LookupHasher(KEY_B).digest("x")
    assert hasher.digest("ab", "c") != hasher.digest("a", "bc")
    assert hasher.digest("a") != hasher.digest("a", "")
    assert hasher.national_id_digest("110101 20100101 123x") == hasher.national_id_digest(
        "11010120100101123X"
    )
    assert hasher.identity_digest("Wang Xiao-Ming", "2010-01-01", "140402") == hasher.identity_digest(
        "WANG XIAOMING", "2010-01-01", "140402"
    )
    with pytest.raises(ValueError):
        LookupHasher(b"too short")


def test_from_settings_uses_the_configured_keys() -> None:
    settings = Settings(
        encryption_keys=f"old:{_b64(KEY_A)}, new:{_b64(KEY_B, urlsafe=True).rstrip('=')}",
        encryption_active_key="new",
        lookup_key=_b64(bytes(48)),
    )
    cipher = FieldCipher.from_settings(settings)
    old_token = FieldCipher({"old": KEY_A}, "old").encrypt(b"x", record_id="r")
    assert cipher.decrypt(old_token, record_id="r") == b"x"
    assert cipher.needs_rotation(old_token)
    assert LookupHasher.from_settings(settings).digest("x") == LookupHasher(bytes(48)).digest("x")


def test_development_defaults_work_and_are_distinct() -> None:
    settings = Settings(environment="development")
    assert settings.encryption_keys == INSECURE_DEV_ENCRYPTION_KEYS
    assert settings.lookup_key == INSECURE_DEV_LOOKUP_KEY_B64
    cipher = FieldCipher.from_settings(settings)
    assert cipher.decrypt(cipher.encrypt(b"x", record_id="r"), record_id="r") == b"x"
    assert parse_key_ring(settings.encryption_keys)["dev"] != base64.b64decode(settings.lookup_key)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        (
            {"encryption_keys": INSECURE_DEV_ENCRYPTION_KEYS, "encryption_active_key": "dev"},
            "CPNET_ENCRYPTION_KEYS",
        ),
        ({"lookup_key": INSECURE_DEV_LOOKUP_KEY_B64}, "CPNET_LOOKUP_KEY"),
        ({"auth_jwks": ""}, "CPNET_AUTH_JWKS"),
        ({"auth_jwks": DEV_JWKS}, "CPNET_AUTH_JWKS"),
        ({"auth_signing_key": _b64(INSECURE_DEV_AUTH_SIGNING_KEY)}, "CPNET_AUTH_SIGNING_KEY"),
        ({"kafka_security_protocol": "PLAINTEXT"}, "CPNET_KAFKA_SECURITY_PROTOCOL"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "CPNET_KAFKA_SECURITY_PROTOCOL"),
        # the development key kept as a decrypt-only old key is just as public
        ({"encryption_keys": f"k1:{_b64(KEY_A)},{INSECURE_DEV_ENCRYPTION_KEYS}"}, "CPNET_ENCRYPTION_KEYS"),
    ],
)
def test_production_refuses_development_defaults(override: dict[str, str], field: str) -> None:
    with pytest.raises(ValueError) as caught:
        _production(**override)
    message = str(caught.value)
    assert field in message and "\n" not in message
    assert INSECURE_DEV_LOOKUP_KEY_B64 not in message and INSECURE_DEV_ENCRYPTION_KEYS not in message


def test_production_refuses_all_defaults() -> None:
    with pytest.raises(ValueError) as caught:
        Settings(environment="production")
    for field in (
        "CPNET_ENCRYPTION_KEYS",
        "CPNET_ENCRYPTION_ACTIVE_KEY",
        "CPNET_LOOKUP_KEY",
        "CPNET_AUTH_JWKS",
        "CPNET_KAFKA_SECURITY_PROTOCOL",
    ):
        assert field in str(caught.value)


def test_production_accepts_explicit_keys() -> None:
    settings = _production()
    assert settings.environment == "production"
    FieldCipher.from_settings(settings)
    LookupHasher.from_settings(settings)


def test_production_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPNET_ENVIRONMENT", "production")
    monkeypatch.setenv("CPNET_ENCRYPTION_KEYS", f"k1:{_b64(os.urandom(32))}")
    monkeypatch.setenv("CPNET_ENCRYPTION_ACTIVE_KEY", "k1")
    monkeypatch.setenv("CPNET_LOOKUP_KEY", _b64(os.urandom(32)))
    monkeypatch.setenv("CPNET_AUTH_JWKS", json.dumps(jwks_of(Ed25519PrivateKey.generate())))
    monkeypatch.setenv("CPNET_AUDIT_SIGNING_KEY", _b64(os.urandom(32)))
    monkeypatch.setenv(
        "CPNET_DATABASE_URL", f"postgresql+asyncpg://cpnet:{secrets.token_urlsafe(32)}@db/cpnet"
    )
    monkeypatch.setenv("CPNET_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CPNET_KAFKA_USERNAME", "cpnet-intake")
    monkeypatch.setenv("CPNET_KAFKA_PASSWORD", secrets.token_urlsafe(32))
    assert FieldCipher.from_settings(Settings()).active_key_id == "k1"
    monkeypatch.delenv("CPNET_LOOKUP_KEY")
    with pytest.raises(ValueError, match="CPNET_LOOKUP_KEY"):
        Settings()


SECRET_MATERIAL = _b64(KEY_A)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"encryption_keys": f"k1:{SECRET_MATERIAL[:-4]}"}, "CPNET_ENCRYPTION_KEYS"),  # too short
        ({"encryption_keys": f"k1:{SECRET_MATERIAL}!!"}, "CPNET_ENCRYPTION_KEYS"),  # not base64
        ({"encryption_keys": SECRET_MATERIAL}, "CPNET_ENCRYPTION_KEYS"),  # no key id
        ({"encryption_keys": f"{SECRET_MATERIAL}:{SECRET_MATERIAL}"}, "CPNET_ENCRYPTION_KEYS"),  # key as id
        ({"encryption_keys": f"k1:{SECRET_MATERIAL},k1:{SECRET_MATERIAL}"}, "CPNET_ENCRYPTION_KEYS"),
        ({"encryption_active_key": SECRET_MATERIAL}, "CPNET_ENCRYPTION_ACTIVE_KEY"),
        ({"lookup_key": SECRET_MATERIAL[:20]}, "CPNET_LOOKUP_KEY"),
        ({"lookup_key": f"{SECRET_MATERIAL}#"}, "CPNET_LOOKUP_KEY"),
        ({"lookup_key": SECRET_MATERIAL}, "CPNET_LOOKUP_KEY"),  # same as the encryption key
        ({"auth_signing_key": SECRET_MATERIAL[:20]}, "CPNET_AUTH_SIGNING_KEY"),
    ],
)
def test_malformed_keys_name_the_field_and_never_echo_the_key(override: dict[str, str], field: str) -> None:
    values = {
        "encryption_keys": f"k1:{SECRET_MATERIAL}",
        "encryption_active_key": "k1",
        "lookup_key": _b64(KEY_B),
    }
    values.update(override)
    with pytest.raises(ValueError) as caught:
        Settings(**values)
    message = str(caught.value)
    assert field in message
    assert "\n" not in message
    assert SECRET_MATERIAL[:12] not in message and SECRET_MATERIAL[-12:] not in message


def test_production_refuses_the_development_audit_signing_key() -> None:
    with pytest.raises(ValueError, match="CPNET_AUDIT_SIGNING_KEY"):
        _production(audit_signing_key="")
