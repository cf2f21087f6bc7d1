"""The audit service's own settings: its checkpoints, the key that signs them and its database role.
Only the audit process reads them, so only it is given the signing key (deploy/README.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import Settings, seed_problem


class AuditSettings(Settings):
    secret_fields: ClassVar[frozenset[str]] = Settings.secret_fields | {"audit_signing_key"}

    audit_checkpoint_every: int = Field(default=1000, ge=1, description="entries between checkpoints")
    audit_checkpoint_minutes: float = Field(default=10.0, gt=0, description="…or minutes, whichever first")
    audit_signing_key: str = Field(
        default="",
        description="Ed25519 private key (base64 of 32 bytes) signing checkpoints; empty: development key",
    )
    audit_key_id: str = Field(default="dev", pattern=r"^[a-z0-9-]{1,16}$")
    audit_kept_months: int = Field(
        default=12,
        ge=0,
        le=36,
        description="months before the running one whose bulletins (the city's, each county's) are counted "
        "and kept ahead of asking; 0: only when asked",
    )
    audit_running_fresh_s: float = Field(
        default=120.0,
        ge=0,
        le=3600,
        description="seconds the running month's bulletin may be old when answered (counted again by the "
        "sweep before, for the city and each county); 0: counted on every asking",
    )
    audit_db_role: str | None = Field(
        default="cpnet_audit", description="INSERT-only role the audit service uses"
    )

    def _own_production_problems(self) -> list[tuple[str, str | None]]:
        if not self.audit_signing_key:
            problem = "is empty, so checkpoints would be signed with the development key"
        else:
            problem = seed_problem(self.audit_signing_key)
        return [("AUDIT_SIGNING_KEY", problem)]
