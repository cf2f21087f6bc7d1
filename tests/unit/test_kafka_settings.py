"""The CPNET_KAFKA_* settings: what each security protocol gives the clients, and the
mistakes refused before any connection is tried."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.messaging.security import broker_security, client_security
from shared.settings import Settings


def test_plaintext_is_the_development_default_and_adds_nothing() -> None:
    settings = Settings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert broker_security(settings) is None and client_security(settings) == {}


def test_scram_over_tls_gives_every_client_the_same_credentials_and_tls() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL", kafka_username="cpnet-intake", kafka_password="s3cret"
    )
    options = client_security(settings)
    assert (options["security_protocol"], options["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("cpnet-intake", "s3cret")
    assert options["ssl_context"] is not None
    assert "s3cret" not in repr(settings), "the password never shows in a printed Settings"


def test_sasl_without_tls_has_no_ssl_context() -> None:
    options = client_security(
        Settings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_username="u",
            kafka_password="p",
            kafka_sasl_mechanism="SCRAM-SHA-256",
        )
    )
    assert (options["security_protocol"], options["sasl_mechanism"], options["ssl_context"]) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-256",
        None,
    )


@pytest.mark.parametrize(
    "values",
    [
        {"kafka_security_protocol": "SASL_SSL"},
        {"kafka_security_protocol": "SASL_SSL", "kafka_username": "cpnet-intake"},
        {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_password": "s3cret"},
    ],
)
def test_sasl_needs_a_username_and_a_password(values: dict) -> None:
    with pytest.raises(ValueError, match="CPNET_KAFKA_USERNAME and CPNET_KAFKA_PASSWORD") as refused:
        Settings(**values)
    assert "s3cret" not in str(refused.value)


def test_a_missing_ca_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CPNET_KAFKA_SSL_CAFILE: no such file"):
        Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "absent.pem")
