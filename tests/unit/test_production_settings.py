"""Production refuses weak and public secrets by strength, not by equality with the default:
every respelling of a development value, short or predictable secrets, low-entropy keys and
the development keys in any encoding — one named problem each, never the value."""

from __future__ import annotations

import base64
import json
import os
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cpnet.registry import SERVICE_NAMES, definition_of
from services.audit.settings import AuditSettings
from shared.crypto import (
    INSECURE_DEV_AUDIT_SIGNING_KEY,
    INSECURE_DEV_ENCRYPTION_KEY,
    INSECURE_DEV_LOOKUP_KEY,
)
from shared.errors import ConfigurationError
from shared.secret_strength import key_problem, secret_problem
from shared.settings import INSECURE_DEV_AUTH_SECRET, Settings
from shared.token_keys import jwks_of


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def strong_values() -> dict[str, object]:
    """A production configuration an operator generated as deploy/README.md says."""
    return {
        "environment": "production",
        "encryption_keys": f"k1:{_b64(os.urandom(32))}",
        "encryption_active_key": "k1",
        "lookup_key": _b64(os.urandom(32)),
        "audit_signing_key": _b64(os.urandom(32)),
        "auth_jwks": json.dumps(jwks_of(Ed25519PrivateKey.generate())),
        "database_url": f"postgresql+asyncpg://cpnet:{secrets.token_urlsafe(32)}@db:5432/cpnet",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_username": "cpnet-intake",
        "kafka_password": secrets.token_urlsafe(32),
    }


def refusal(**changes: object) -> str:
    """The audit service's refusal: its settings judge every common secret and its own signing key."""
    with pytest.raises(ConfigurationError) as refused:
        AuditSettings(**{**strong_values(), **changes})
    return str(refused.value)


def test_a_generated_configuration_starts() -> None:
    assert AuditSettings(**strong_values()).environment == "production"


def test_only_the_audit_service_is_given_and_judges_the_audit_signing_key() -> None:
    """Every other process starts in production without the checkpoints' private key (it is given to
    the audit service alone), and the audit service refuses to start without it."""
    without = {**strong_values(), "audit_signing_key": ""}
    assert Settings(**without).environment == "production"
    assert "CPNET_AUDIT_SIGNING_KEY: is empty" in refusal(audit_signing_key="")
    assert definition_of("audit").settings is AuditSettings
    others = [name for name in SERVICE_NAMES if name != "audit"]
    assert all(not issubclass(definition_of(name).settings, AuditSettings) for name in others)


# The old HS256 development secret stays public: no password may be any spelling of it.
DEV = INSECURE_DEV_AUTH_SECRET
TEXT_SECRET_VARIANTS = {
    "the default": DEV,
    "trailing space": DEV + " ",
    "leading and trailing whitespace": f"\t {DEV}\n",
    "upper-cased": DEV.upper(),
    "title-cased": DEV.title(),
    "other punctuation": DEV.replace("-", "_"),
    "no punctuation": DEV.replace("-", ""),
    "with a suffix": DEV + "-2027",
    "full-width letters": "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in DEV),
    "a * 32": "a" * 32,
    "x * 40": "x" * 40,
    "two letters repeated": "ab" * 16,
    "the alphabet": "abcdefghijklmnopqrstuvwxyz0123456789",
    "digits counting up": "0123456789" * 4,
    "secret repeated": "secret" * 6,
    "changeme repeated": "changeme" * 4,
    "a placeholder sentence": "this-is-my-production-password-2027",
    "insecure inside": "Kq7-insecure-Zp2-Lm9-Wx4-Rt8-Yv3-Nb6",
    "too short but random": secrets.token_urlsafe(16)[:20],
    "a development key as the secret": _b64(INSECURE_DEV_LOOKUP_KEY),
    "a development key in hex": INSECURE_DEV_ENCRYPTION_KEY.hex(),
}


@pytest.mark.parametrize("variant", TEXT_SECRET_VARIANTS, ids=list(TEXT_SECRET_VARIANTS))
def test_production_refuses_every_weak_variant_of_a_password(variant: str) -> None:
    value = TEXT_SECRET_VARIANTS[variant]
    message = refusal(kafka_password=value)
    assert "CPNET_KAFKA_PASSWORD" in message and "\n" not in message
    assert value.strip() not in message, "the message repeats the secret"


def test_each_problem_names_its_setting_once_and_never_a_value() -> None:
    values = {
        "auth_jwks": "",
        "lookup_key": _b64(bytes(32)),
        "audit_signing_key": "",
        "kafka_password": "changeme-changeme-changeme-changeme",
        "database_url": "postgresql+asyncpg://cpnet:cpnet@db:5432/cpnet",
    }
    message = refusal(**values)
    problems = (
        message.split(": ", 1)[1].removeprefix("production refuses weak or public secrets: ").split("; ")
    )
    named = [problem.split(":", 1)[0] for problem in problems]
    assert named == [
        "CPNET_LOOKUP_KEY",
        "CPNET_AUTH_JWKS",
        "CPNET_AUDIT_SIGNING_KEY",
        "CPNET_DATABASE_URL",
        "CPNET_KAFKA_PASSWORD",
    ]
    for value in (values["lookup_key"], values["kafka_password"], "cpnet:cpnet"):
        assert value not in message


LOW_ENTROPY_KEYS = {
    "all zero bytes": bytes(32),
    "all the same byte": b"\xa5" * 32,
    "two bytes alternating": b"\x01\xfe" * 16,
    "counting bytes": bytes(range(32)),
    "counting down": bytes(range(255, 223, -1)),
    "a typed phrase": b"our lookup key, kept very safely",
    "eight distinct bytes": bytes(range(0, 256, 32)) * 4,
}


@pytest.mark.parametrize("variant", LOW_ENTROPY_KEYS, ids=list(LOW_ENTROPY_KEYS))
@pytest.mark.parametrize(
    "setting", ["encryption_keys", "lookup_key", "audit_signing_key", "auth_signing_key"]
)
def test_production_refuses_low_entropy_keys(setting: str, variant: str) -> None:
    encoded = _b64(LOW_ENTROPY_KEYS[variant])
    message = refusal(**{setting: f"k1:{encoded}" if setting == "encryption_keys" else encoded})
    assert f"CPNET_{setting.upper()}" in message and encoded not in message


def _spellings(key: bytes) -> dict[str, str]:
    return {
        "base64": base64.b64encode(key).decode(),
        "urlsafe base64": base64.urlsafe_b64encode(key).decode(),
        "base64 without padding": base64.b64encode(key).decode().rstrip("="),
        "base64 with spaces": " ".join(base64.b64encode(key).decode()[i : i + 8] for i in range(0, 44, 8)),
        "hex": key.hex(),
        "upper-case hex": key.hex().upper(),
    }


DEV_KEYS = {
    "encryption": INSECURE_DEV_ENCRYPTION_KEY,
    "lookup": INSECURE_DEV_LOOKUP_KEY,
    "audit signing": INSECURE_DEV_AUDIT_SIGNING_KEY,
}


@pytest.mark.parametrize("key_name", DEV_KEYS)
@pytest.mark.parametrize("spelling", list(_spellings(b"x" * 32)))
def test_production_refuses_the_development_keys_in_any_encoding_in_any_key_setting(
    key_name: str, spelling: str
) -> None:
    text = _spellings(DEV_KEYS[key_name])[spelling]
    # A hex key is 64 characters, which base64 reads as 48 bytes: a valid lookup key length only.
    fits = {"lookup_key": text}
    if "hex" not in spelling:
        fits |= {"encryption_keys": f"k1:{text}", "audit_signing_key": text}
    for setting, value in fits.items():
        message = refusal(**{setting: value})
        assert f"CPNET_{setting.upper()}" in message and "public development key" in message, (
            setting,
            message,
        )


def test_the_development_key_kept_only_to_decrypt_is_refused_too() -> None:
    ring = f"k1:{_b64(os.urandom(32))},old:{_b64(INSECURE_DEV_ENCRYPTION_KEY)}"
    message = refusal(encryption_keys=ring)
    assert "CPNET_ENCRYPTION_KEYS: key 'old' is a public development key" in message


def test_the_development_key_id_and_a_malformed_signing_key_are_refused() -> None:
    ring = f"dev:{_b64(os.urandom(32))}"
    assert "CPNET_ENCRYPTION_ACTIVE_KEY" in refusal(encryption_keys=ring, encryption_active_key="dev")
    short = _b64(os.urandom(16))
    message = refusal(audit_signing_key=short)
    assert "CPNET_AUDIT_SIGNING_KEY: decodes to 16 bytes, needs 32" in message and short not in message


@pytest.mark.parametrize("password", ["cpnet", "a-scram-password", "k" * 40, secrets.token_urlsafe(12)])
def test_production_refuses_weak_kafka_and_database_passwords(password: str) -> None:
    assert "CPNET_KAFKA_PASSWORD" in refusal(kafka_password=password)
    message = refusal(database_url=f"postgresql+asyncpg://cpnet:{password}@db:5432/cpnet")
    assert "CPNET_DATABASE_URL: its password" in message and password not in message


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT"])
def test_production_needs_kafka_over_sasl_ssl(protocol: str) -> None:
    assert "CPNET_KAFKA_SECURITY_PROTOCOL: must be SASL_SSL" in refusal(kafka_security_protocol=protocol)


def test_plaintext_kafka_only_with_the_private_network_opt_out() -> None:
    accepted = Settings(
        **{
            **strong_values(),
            "kafka_security_protocol": "PLAINTEXT",
            "kafka_password": "",
            "kafka_plaintext_private_network": True,
        }
    )
    assert accepted.kafka_security_protocol == "PLAINTEXT"
    # The opt-out covers exactly the compose broker's case, not SCRAM sent in clear.
    assert "CPNET_KAFKA_SECURITY_PROTOCOL" in refusal(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_plaintext_private_network=True
    )


def test_development_mode_keeps_its_defaults() -> None:
    settings = Settings(environment="development")
    assert (settings.auth_signing_key, settings.auth_jwks) == ("", ""), "the development key pair"


@pytest.mark.parametrize(
    "generate",
    [lambda: secrets.token_hex(16), lambda: secrets.token_urlsafe(32), lambda: _b64(os.urandom(32))],
    ids=["hex16", "urlsafe32", "base64-32"],
)
def test_generated_secrets_are_never_refused(generate) -> None:
    # The bars must stay far below what a generator gives, or an operator gets a refusal by luck.
    refused = [problem for _ in range(3000) if (problem := secret_problem(generate(), public_texts=[DEV]))]
    assert refused == []


@pytest.mark.parametrize("word", ["cpnet", "secret", "insecure"])
def test_a_generated_secret_holding_a_placeholder_word_by_luck_is_not_refused(word: str) -> None:
    # As one in about a hundred thousand random base64 secrets does: the word is a small part of it.
    lucky = "q8Zr2/" + word + "W0xT4+Lm7Hc1Vb9Ns3Jd6Gk5Fp0Yw2Ea8"
    assert secret_problem(lucky, public_texts=[DEV]) is None
    typed = f"our-{word}-for-wuxiang-2027"  # a sentence somebody typed: the word is a fifth of it
    assert "placeholder" in (secret_problem(typed, public_texts=[DEV]) or "")


def test_generated_keys_are_never_refused() -> None:
    keys = [os.urandom(32) for _ in range(3000)]
    assert [key_problem(key, text=_b64(key), public_keys=list(DEV_KEYS.values())) for key in keys] == [
        None
    ] * 3000


def test_a_service_takes_the_common_settings_as_given_and_its_own_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.referral.settings import ReferralSettings

    monkeypatch.setenv("CPNET_REFERRAL_PUBLIC_URL", "https://referrals.example.org")
    given = Settings(kafka_bootstrap="kafka.example.org:9093")
    own = given.of_kind(ReferralSettings)
    assert isinstance(own, ReferralSettings) and own.kafka_bootstrap == "kafka.example.org:9093"
    assert own.referral_public_url == "https://referrals.example.org"
    assert own.of_kind(ReferralSettings) is own
