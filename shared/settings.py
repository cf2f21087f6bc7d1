"""Runtime configuration for every cpnet process, read from CPNET_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

SERVICE_NAMES = ("intake", "assessment", "referral", "followup", "audit")
ServiceName = Literal["intake", "assessment", "referral", "followup", "audit"]


class Settings(BaseSettings):
    """Everything a service needs to find Kafka, PostgreSQL and its own HTTP port."""

    model_config = SettingsConfigDict(env_prefix="CPNET_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_replication_factor: int = Field(default=1, ge=1, description="for topics this creates; 3 in production")
    database_url: str = "postgresql+asyncpg://cpnet:cpnet@127.0.0.1:5432/cpnet"

    http_host: str = "127.0.0.1"
    intake_port: int = 8001
    assessment_port: int = 8002
    referral_port: int = 8003
    followup_port: int = 8004
    audit_port: int = 8005

    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces endpoint, e.g. http://jaeger:4318/v1/traces"
    )

    consumer_max_tries: int = Field(default=3, ge=1, le=100)
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_poll_interval_s: float = Field(default=0.05, gt=0, le=10)

    stack_dir: Path = Path(".stack")
    kafka_version: str = "4.1.1"

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
