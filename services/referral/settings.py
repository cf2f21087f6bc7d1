"""The referral service's own settings: the addresses its referrals send agencies to."""

from __future__ import annotations

from pydantic import Field

from shared.settings import Settings


class ReferralSettings(Settings):
    referral_public_url: str | None = Field(
        default=None, description="base URL agencies fetch referrals from"
    )
    intake_public_url: str | None = Field(
        default=None, description="base URL agencies fetch a child's details from"
    )
