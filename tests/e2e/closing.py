"""Closing a case as people must: every referral an agency still holds is withdrawn with a reason
first, and casework has heard of it before the closure is asked for; then its owner asks and a
supervisor approves."""

from __future__ import annotations

import asyncio

import httpx

from shared.contracts.vocabulary import OPEN_REFERRAL_STATES


async def open_referrals_of(referral: httpx.AsyncClient, case_id: str, headers: dict[str, str]) -> list[dict]:
    answer = await referral.get("/v1/referrals", params={"case_id": case_id}, headers=headers)
    assert answer.status_code == 200, answer.text
    return [r for r in answer.json() if r["state"] in OPEN_REFERRAL_STATES]


async def referred_and_heard(urls: dict[str, str], case_id: str, headers: dict[str, str]) -> list[dict]:
    """Until referral has routed the case (its referrals are made in one transaction) and casework
    counts as many open referrals: the case's open referrals."""
    async with (
        httpx.AsyncClient(base_url=urls["referral"]) as referral,
        httpx.AsyncClient(base_url=urls["casework"]) as casework,
    ):
        for _ in range(400):
            held = await open_referrals_of(referral, case_id, headers)
            case = (await casework.get(f"/v1/cases/{case_id}", headers=headers)).json()
            if held and case["open_referrals"] == len(held):
                return held
            await asyncio.sleep(0.05)
    raise AssertionError(f"casework never counted the referrals of {case_id}: {case}, {held}")


async def withdraw_open_referrals(
    urls: dict[str, str], case_id: str, headers: dict[str, str], *, reason: str = "no_longer_needed"
) -> list[dict]:
    """Withdraws each open referral of the case (answers them) and waits until casework counts none."""
    async with (
        httpx.AsyncClient(base_url=urls["referral"]) as referral,
        httpx.AsyncClient(base_url=urls["casework"]) as casework,
    ):
        withdrawn = []
        for open_referral in await open_referrals_of(referral, case_id, headers):
            answer = await referral.post(
                f"/v1/referrals/{open_referral['referral_id']}/withdrawal",
                json={"reason": reason},
                headers=headers,
            )
            assert answer.status_code == 200, answer.text
            withdrawn.append(answer.json())
        for _ in range(200):  # casework hears of it from referral.status a moment later
            case = (await casework.get(f"/v1/cases/{case_id}", headers=headers)).json()
            if case["open_referrals"] == 0:
                return withdrawn
            await asyncio.sleep(0.05)
        raise AssertionError(f"casework still counts open referrals of {case_id}: {case}")


async def closed_on_approval(
    urls: dict[str, str],
    case_id: str,
    owner: dict[str, str],
    supervisor: dict[str, str],
    *,
    reason: str = "moved_away",
) -> tuple[str, dict]:
    """Closes the case as people must: its referrals withdrawn, its owner asks, a supervisor approves.
    The stage it had reached, and the case as casework answers it once closed."""
    await withdraw_open_referrals(urls, case_id, owner)
    async with httpx.AsyncClient(base_url=urls["casework"]) as casework:
        reached = (await casework.get(f"/v1/cases/{case_id}", headers=owner)).json()["stage"]
        asked = await casework.post(
            f"/v1/cases/{case_id}/approvals", json={"kind": "close", "reason": reason}, headers=owner
        )
        assert asked.status_code == 201, asked.text
        approved = await casework.post(
            f"/v1/approvals/{asked.json()['approval_id']}/decision",
            json={"approve": True},
            headers=supervisor,
        )
        assert approved.status_code == 200, approved.text
        case = (await casework.get(f"/v1/cases/{case_id}", headers=owner)).json()
    assert (case["state"], case["closed_reason"]) == ("closed", reason), case
    return reached, case
