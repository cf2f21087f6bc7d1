"""Runtime configuration common to every cpnet process, read from CPNET_* environment variables.

A service's own settings extend these beside the service (`services/<name>/settings.py`, named by its
definition): only the audit service holds the checkpoints' signing key, only the console its identity
provider's secret. What stays here is what every process needs: Kafka, PostgreSQL, the keys of
personal data and tokens, and the address book of every process's port (the console, the supervisor
and the referral service's public links reach the others by it)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from shared.crypto import (
    INSECURE_DEV_ENCRYPTION_KEYS,
    INSECURE_DEV_KEY_ID,
    INSECURE_DEV_KEYS,
    INSECURE_DEV_LOOKUP_KEY_B64,
    KEY_BYTES,
    LOOKUP_KEY_MIN_BYTES,
    decode_key,
    is_key_id,
    parse_key_ring,
)
from shared.errors import ConfigurationError
from shared.secret_strength import key_problem, secret_problem
from shared.token_keys import DEV_KID, parse_jwks

# The HS256 secret development tokens were once signed with: no token is any more (they are EdDSA,
# shared/token_keys.py), but it is printed in this repository's history, so no secret may be it.
INSECURE_DEV_AUTH_SECRET = "cpnet-insecure-development-auth-secret"
# Texts printed in this repository; production refuses them, however respelled, in any secret.
PUBLIC_DEV_TEXTS = (INSECURE_DEV_AUTH_SECRET,)
ServiceName = Literal["intake", "assessment", "referral", "followup", "audit", "casework"]


K = TypeVar("K", bound="Settings")


class Settings(BaseSettings):
    """Everything a service needs to find Kafka, PostgreSQL and its own HTTP port."""

    model_config = SettingsConfigDict(env_prefix="CPNET_", extra="ignore")
    # Fields whose invalid values are never shown in an error (a kind's own extend these).
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "encryption_keys",
            "encryption_active_key",
            "lookup_key",
            "auth_signing_key",
            "kafka_password",
            "metrics_token",
        }
    )

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="for topics this creates; 3 in production"
    )
    # How the clients authenticate to Kafka (DESIGN §7: SASL/SCRAM over TLS in production,
    # one principal per service and per agency; deploy/kafka/README.md).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str = Field(default="", description="this process's SASL principal, e.g. cpnet-intake")
    kafka_password: SecretStr = Field(default=SecretStr(""), description="its SASL password")
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="the cluster's CA (PEM); default: the system's"
    )
    # The one exception production allows to SASL_SSL: docker-compose.yml's single broker,
    # reachable only on an internal container network (docs/ARCHITECTURE.md, departures).
    kafka_plaintext_private_network: bool = Field(
        default=False,
        description="the operator states the PLAINTEXT broker is reachable only on a private "
        "container network with no published port; production then accepts PLAINTEXT",
    )
    database_url: str = "postgresql+asyncpg://cpnet:cpnet@127.0.0.1:5432/cpnet"

    http_host: str = "127.0.0.1"
    intake_port: int = 8001
    assessment_port: int = 8002
    referral_port: int = 8003
    followup_port: int = 8004
    audit_port: int = 8005
    casework_port: int = 8006
    console_port: int = 8000  # the console (services/console): people sign in here
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces endpoint, e.g. http://jaeger:4318/v1/traces"
    )

    consumer_max_tries: int = Field(default=3, ge=1, le=100)
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_poll_interval_s: float = Field(default=0.05, gt=0, le=10)
    relay_gather_s: float = Field(
        default=0.005,
        ge=0,
        le=1,
        description="how long the outbox relay, woken by a commit, waits for the "
        "commits after it, so a burst leaves in one round",
    )
    nice: int = Field(
        default=0,
        ge=0,
        le=19,
        description="how much lower than its parent's this service process's CPU priority is (nice): "
        "`cpnet run` starts every service's ordinary work at 5 and the urgent lanes at its own, so on a "
        "machine they share an emergency's lane is served before the crowd's batches",
    )
    lanes: Literal["both", "ordinary", "urgent"] = Field(
        default="both",
        description="which of a service's lanes this process runs (issue 22): both; the ordinary work "
        "(its HTTP API, sweeps and every consumer group but the urgent lanes); or the urgent lanes "
        "alone, with their relay, in a process of their own that the crowd's CPU does not delay",
    )
    outbox_retention_days: float = Field(
        default=7.0,
        gt=0,
        description="published outbox rows are deleted after this (the ledger keeps every event)",
    )
    processed_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="consumers' de-duplication records are deleted after this; keep it longer "
        "than the Kafka topics' retention (7 days by default)",
    )

    grading_rules: Path | None = Field(
        default=None, description="grading rule set; default config/grading.yaml"
    )

    sweep_interval_s: float = Field(default=5.0, gt=0, le=3600, description="deadline and visit sweeps")
    stack_dir: Path = Path(".stack")
    kafka_version: str = "4.1.1"

    def of_kind(self, kind: type[K]) -> K:
        """These settings as a service's own kind: every common value as given (not judged again:
        they were when these were made), the kind's own fields read and judged from the environment,
        as they are when the service starts on its own."""
        if isinstance(self, kind):
            return self
        own = kind()
        fields = {
            name: getattr(own, name) for name in kind.model_fields if name not in type(self).model_fields
        }
        return kind.model_construct(_fields_set=self.model_fields_set, **dict(self), **fields)

    def port_of(self, service: ServiceName) -> int:
        return int(getattr(self, f"{service}_port"))

    @property
    def kafka_host_port(self) -> tuple[str, int]:
        host, _, port = self.kafka_bootstrap.split(",")[0].rpartition(":")
        return host or "127.0.0.1", int(port)

    @property
    def database_host_port(self) -> tuple[str, int]:
        url = make_url(self.database_url)
        return url.host or "127.0.0.1", url.port or 5432

    # --- security: field encryption, lookup digests, bearer tokens (see shared/crypto, shared/auth)
    encryption_keys: str = Field(
        default=INSECURE_DEV_ENCRYPTION_KEYS,
        description="personal-data keys 'id:base64key,id2:base64key' (32 bytes each); "
        "old ids stay to decrypt",
    )
    encryption_active_key: str = Field(
        default=INSECURE_DEV_KEY_ID, description="key id new values are sealed with"
    )
    lookup_key: str = Field(
        default=INSECURE_DEV_LOOKUP_KEY_B64,
        description="HMAC key (base64, >= 32 bytes) of the lookup digests",
    )
    # Bearer tokens (shared/token_keys.py): only the issuer — the console, `cpnet token issue` —
    # is given the signing key; every service verifies with the public keys of the JWKS.
    auth_signing_key: str = Field(
        default="",
        description="the issuer's Ed25519 private key (base64 of its 32-byte seed); empty: development "
        "key. Give it to the issuer only",
    )
    auth_jwks: str = Field(
        default="",
        description="the public keys tokens are verified with: a JWKS (JSON), a file holding one, or "
        "its https URL; empty: the development key",
    )
    auth_issuer: str = Field(default="cpnet", min_length=1)
    auth_audience: str = Field(default="cpnet", min_length=1)
    # A person's working day and a little more: a stolen token is worth hours, not years.
    auth_max_token_ttl_minutes: int = Field(
        default=12 * 60, ge=1, le=7 * 24 * 60, description="longest lifetime (exp - iat) a token may have"
    )
    environment: Literal["development", "production"] = "development"

    @field_validator("encryption_keys")
    @classmethod
    def _key_ring_parses(cls, value: str) -> str:
        parse_key_ring(value)
        return value

    @field_validator("auth_signing_key")
    @classmethod
    def _signing_key_decodes(cls, value: str) -> str:
        if value:
            decode_key(value, what="the key", min_bytes=KEY_BYTES, max_bytes=KEY_BYTES)
        return value

    @field_validator("lookup_key")
    @classmethod
    def _lookup_key_decodes(cls, value: str) -> str:
        decode_key(value, what="the key", min_bytes=LOOKUP_KEY_MIN_BYTES)
        return value

    @model_validator(mode="after")
    def _keys_are_consistent_and_production_ready(self) -> Settings:
        ring = parse_key_ring(self.encryption_keys)
        if self.encryption_active_key not in ring:
            shown = repr(self.encryption_active_key) if is_key_id(self.encryption_active_key) else "the value"
            raise ValueError(f"CPNET_ENCRYPTION_ACTIVE_KEY: {shown} is not a key id of CPNET_ENCRYPTION_KEYS")
        lookup = decode_key(self.lookup_key, what="CPNET_LOOKUP_KEY", min_bytes=LOOKUP_KEY_MIN_BYTES)
        if lookup in ring.values():
            raise ValueError("CPNET_LOOKUP_KEY must differ from every key of CPNET_ENCRYPTION_KEYS")
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_username and self.kafka_password.get_secret_value()
        ):
            raise ValueError(
                f"CPNET_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "CPNET_KAFKA_USERNAME and CPNET_KAFKA_PASSWORD"
            )
        if self.kafka_ssl_cafile is not None and not self.kafka_ssl_cafile.is_file():
            raise ValueError("CPNET_KAFKA_SSL_CAFILE: no such file")
        if self.environment == "production":
            problems = self._production_problems(ring, lookup)
            if problems:
                raise ValueError("production refuses weak or public secrets: " + "; ".join(problems))
        return self

    def _production_problems(self, ring: dict[str, bytes], lookup: bytes) -> list[str]:
        """One entry per unfit setting, naming it and never its value: development values in
        any spelling or encoding, secrets and keys too short or too predictable, Kafka without
        authentication (shared/secret_strength.py says how strength is judged)."""
        problems: list[str] = []

        def judge(setting: str, problem: str | None) -> None:
            if problem:
                problems.append(f"CPNET_{setting}: {problem}")

        # Key material is compared as bytes (and as written): a re-encoded or merely
        # kept-for-decryption development key is as public as the default itself.
        for key_id, key in ring.items():
            problem = key_problem(key, text=self.encryption_keys, public_keys=INSECURE_DEV_KEYS)
            judge("ENCRYPTION_KEYS", problem and f"key {key_id!r} {problem}")
        if self.encryption_active_key == INSECURE_DEV_KEY_ID:
            judge("ENCRYPTION_ACTIVE_KEY", "is the development key id")
        judge("LOOKUP_KEY", key_problem(lookup, text=self.lookup_key, public_keys=INSECURE_DEV_KEYS))
        if self.auth_signing_key:  # only the issuer has one
            judge("AUTH_SIGNING_KEY", seed_problem(self.auth_signing_key))
        judge("AUTH_JWKS", _jwks_problem(self.auth_jwks))
        for setting, problem in self._own_production_problems():
            judge(setting, problem)
        database_password = make_url(self.database_url).password
        if database_password is not None:
            problem = _text_secret_problem(str(database_password))
            judge("DATABASE_URL", problem and f"its password {problem}")
        # Kafka carries the hotline's reports: every client authenticates, over TLS.
        if self.metrics_token.get_secret_value():
            judge("METRICS_TOKEN", _text_secret_problem(self.metrics_token.get_secret_value()))
        if self.kafka_security_protocol == "SASL_SSL":
            judge("KAFKA_PASSWORD", _text_secret_problem(self.kafka_password.get_secret_value()))
        elif not (self.kafka_security_protocol == "PLAINTEXT" and self.kafka_plaintext_private_network):
            judge(
                "KAFKA_SECURITY_PROTOCOL",
                "must be SASL_SSL (or PLAINTEXT on a private container network: "
                "CPNET_KAFKA_PLAINTEXT_PRIVATE_NETWORK)",
            )
        return problems

    def _own_production_problems(self) -> list[tuple[str, str | None]]:
        """A service's own settings unfit for production, as (setting without CPNET_, problem)."""
        return []

    def __init__(self, **values: Any) -> None:
        # Pydantic's own message repeats the offending input; for these fields that is a key,
        # so such errors become one line that names the field and never shows its value.
        try:
            super().__init__(**values)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            if not any(not e["loc"] or e["loc"][0] in type(self).secret_fields for e in errors):
                raise
            raise ConfigurationError("invalid settings: " + "; ".join(map(_describe, errors))) from None

    # --- HTTP limits (shared/ratelimit.py, shared/http.py): generous for people, not for floods
    rate_limit_writes_per_minute: int = Field(default=600, ge=1, description="POST/PUT/DELETE per principal")
    rate_limit_personal_reads_per_minute: int = Field(
        default=120, ge=1, description="reads of a child's personal data (details, archive) per principal"
    )
    rate_limit_address_per_minute: int = Field(
        default=6000,
        ge=1,
        description="requests per client address, before authentication (one office's NAT, "
        "or a proxy, may carry many people)",
    )
    http_max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="largest request body; routes may allow less",
    )

    # --- production's switch of each service's own documents and counts (shared/operations.py)
    api_docs_open: bool = Field(
        default=False,
        description="in production, serve /docs and /openapi.json without a token (development always does)",
    )
    metrics_open: bool = Field(default=False, description="in production, serve /metrics without a token")
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description="the token a metrics scraper sends as 'Authorization: Bearer …' in production",
    )

    territory_file: Path | None = Field(
        default=None,
        description="the territory registry reports must name a node of; default config/territory.yaml",
    )


def _jwks_problem(source: str) -> str | None:
    """What is wrong with the JWKS production verifies tokens with (a URL is judged as it is read:
    shared/auth.py trusts no development-signed token in production whatever it says)."""
    source = source.strip()
    if not source:
        return "is empty, so tokens would be verified with the development key"
    if source.startswith(("https://", "http://")):
        return None
    try:
        text = source if source.startswith("{") else Path(source).read_text(encoding="utf-8")
        keys = parse_jwks(text)
    except (OSError, ConfigurationError):
        return "is not a JWKS of Ed25519 keys, nor a file holding one"
    if DEV_KID in keys:
        return "trusts the development key"
    return None


def seed_problem(encoded: str) -> str | None:
    """What is wrong with an Ed25519 private key setting (base64 of a 32-byte seed), if anything."""
    try:
        seed = decode_key(encoded, what="it", min_bytes=KEY_BYTES, max_bytes=KEY_BYTES)
    except ValueError as exc:
        return str(exc).removeprefix("it ")
    return key_problem(seed, text=encoded, public_keys=INSECURE_DEV_KEYS)


def _text_secret_problem(text: str) -> str | None:
    return secret_problem(text, public_texts=PUBLIC_DEV_TEXTS, public_keys=INSECURE_DEV_KEYS)


def _describe(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    return f"CPNET_{str(error['loc'][0]).upper()}: {message}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
