"""Closing a case as people must: every referral an agency still holds is withdrawn with a reason
first, and casework has heard of it before the closure is asked for."""

from __future__ import annotations

import asyncio

import httpx


async def open_referrals_of(referral: httpx.AsyncClient, case_id: str, headers: dict[str, str]) -> list[dict]:
    answer = await referral.get("/v1/referrals", params={"case_id": case_id}, headers=headers)
    assert answer.status_code == 200, answer.text
    return [r for r in answer.json() if r["state"] in ("created", "acknowledged", "in_progress")]


async def withdraw_open_referrals(urls: dict[str, str], case_id: str, headers: dict[str, str], *,
                                  reason: str = "no_longer_needed") -> list[dict]:
    """Withdraws each open referral of the case (answers them) and waits until casework counts none."""
    async with httpx.AsyncClient(base_url=urls["referral"]) as referral, \
            httpx.AsyncClient(base_url=urls["casework"]) as casework:
        withdrawn = []
        for open_referral in await open_referrals_of(referral, case_id, headers):
            answer = await referral.post(f"/v1/referrals/{open_referral['referral_id']}/withdrawal",
                                         json={"reason": reason}, headers=headers)
            assert answer.status_code == 200, answer.text
            withdrawn.append(answer.json())
        for _ in range(200):  # casework hears of it from referral.status a moment later
            case = (await casework.get(f"/v1/cases/{case_id}", headers=headers)).json()
            if case["open_referrals"] == 0:
                return withdrawn
            await asyncio.sleep(0.05)
        raise AssertionError(f"casework still counts open referrals of {case_id}: {case}")
