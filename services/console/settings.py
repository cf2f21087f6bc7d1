"""The console's own settings: its identity provider, its public address, how often anyone may try
to sign in and where it reaches the services."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from shared.settings import Settings


class ConsoleSettings(Settings):
    secret_fields: ClassVar[frozenset[str]] = Settings.secret_fields | {"console_oidc_client_secret"}

    # An OpenID Connect provider in place of the console's passwords (services/console/oidc.py).
    console_oidc_issuer: str = Field(default="", description="the provider's issuer URL; empty: passwords")
    console_oidc_client_id: str = ""
    console_oidc_client_secret: SecretStr = Field(default=SecretStr(""))
    console_public_url: str = Field(
        default="",
        description="the console's address as browsers reach it (for the "
        "provider's redirect); empty: http://host:port",
    )
    # Sign-in attempts (a password, or a start at the identity provider) before any password is
    # hashed (services/console/sign_in_guards.py): per client address, and per account name.
    console_sign_ins_per_address_per_minute: int = Field(
        default=20,
        ge=1,
        description="sign-in attempts per client address (an office behind one NAT shares it)",
    )
    console_sign_ins_per_account_per_minute: int = Field(
        default=10, ge=1, description="sign-in attempts per account name, from anywhere"
    )
    console_services_url: str = Field(
        default="",
        description="where the console reaches each service, e.g. http://{service}:{port} "
        "(compose); empty: http://CPNET_HTTP_HOST:<port>",
    )
