"""The agency kit hands a withdrawal of a referral it received to the agency's system, so the
agency stops work on it; a withdrawal of a referral it never received is not its business."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cpnet.agency import AckLog, _handle
from shared.contracts.envelope import new_envelope
from shared.contracts.events import ReferralWithdrawn
from shared.contracts.vocabulary import Agency, WithdrawalReason


def withdrawal(referral_id: uuid.UUID) -> bytes:
    case_id = uuid.uuid4()
    event = ReferralWithdrawn(
        referral_id=referral_id,
        case_id=case_id,
        agency=Agency.police,
        reason=WithdrawalReason.no_longer_needed,
        withdrawn_by="cw-1",
        withdrawn_at=datetime.now(UTC),
    )
    return new_envelope(event, case_id=case_id, producer="referral").to_json()


async def test_a_withdrawal_of_a_received_referral_reaches_the_agency_and_another_does_not(
    tmp_path: Path,
) -> None:
    received, unknown = uuid.uuid4(), uuid.uuid4()
    acked = AckLog(tmp_path / "acked")
    acked.add(str(received))
    out, said = tmp_path / "police.jsonl", []
    for referral_id in (received, unknown):
        await _handle(
            withdrawal(referral_id),
            agency=Agency.police,
            jurisdiction="",
            out=out,
            webhook=None,
            http=None,
            producer=None,
            acked=acked,
            responder="police-kit",
            echo=said.append,
        )
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["payload"]["referral_id"] == str(received)
    assert json.loads(line)["event_type"] == "referral.withdrawn"
    assert said == [f"referral {received} withdrawn (no_longer_needed): stop work on it"]
