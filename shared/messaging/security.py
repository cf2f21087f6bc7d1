"""How every cpnet Kafka client authenticates and encrypts: from the CPNET_KAFKA_* settings,
one FastStream security object for the services' brokers and the same options, as aiokafka
keywords, for the plain clients (admin, health checks, the agency kit)."""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.settings import Settings

_SASL = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}


def broker_security(settings: Settings) -> BaseSecurity | None:
    """FastStream's security for KafkaBroker(security=…); None for a PLAINTEXT cluster."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    tls = protocol in ("SSL", "SASL_SSL")
    # The system's trust store, or the cluster's own CA when one is named.
    context = (
        create_ssl_context(cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None)
        if tls
        else None
    )
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    return _SASL[settings.kafka_sasl_mechanism](
        settings.kafka_username, settings.kafka_password.get_secret_value(), ssl_context=context, use_ssl=tls
    )


def client_security(settings: Settings) -> dict[str, Any]:
    """The same, as keywords of aiokafka's clients ({} for a PLAINTEXT cluster)."""
    return parse_security(broker_security(settings))
