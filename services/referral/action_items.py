"""Action items (督办事项) held to their day as referrals and services are (issue 24): an item still open
after the day it was due climbs the territory — from the case's node one level up, then one more each
`ESCALATION_GRACE` it stays open — until the city, whose supervisors then answer for it, each climb
announced as `meeting.action_item_escalated` for the ledger and the case's timeline. `climbed` is the
rule, pure; `escalate_overdue_action_items` the sweep that applies it, a batch a transaction."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update

from services.referral import tables as t
from services.referral.deliveries import ESCALATION_GRACE
from services.referral.provision import LOCAL
from services.referral.refer import Resources
from services.referral.territory import below_the_top, escalation_target
from shared.contracts.events import ActionItemEscalated
from shared.contracts.vocabulary import ActionItemState, ActionTask, Agency
from shared.unit_of_work import Work


def late_from(due_on: date) -> datetime:
    """The first moment an item due on `due_on` is late: the start of the next day, China Standard Time."""
    return datetime.combine(due_on + timedelta(days=1), time(), tzinfo=LOCAL)


def climbed(
    row, now: datetime, grace: timedelta = ESCALATION_GRACE
) -> tuple[dict, ActionItemEscalated] | None:
    """An open item whose time to climb has come, one level up: its new columns and the event. None
    when it is done, its time has not come, or it is at the city already."""
    target = escalation_target(row.holder)
    if target is None or row.state != ActionItemState.open or row.escalate_at > now:
        return None
    to_jurisdiction, to_level = target
    escalations = row.escalations + 1
    values = {"holder": to_jurisdiction, "escalate_at": now + grace, "escalations": escalations}
    return values, ActionItemEscalated(
        action_item_id=row.id,
        meeting_id=row.meeting_id,
        case_id=row.case_id,
        agency=Agency(row.agency),
        task=ActionTask(row.task),
        due_on=row.due_on,
        from_jurisdiction=row.holder,
        to_jurisdiction=to_jurisdiction,
        to_level=to_level,
        escalations=escalations,
        escalated_at=now,
    )


async def escalate_overdue_action_items(work: Work, res: Resources, *, limit: int = 200) -> int:
    """Every open item whose time to climb has come goes one level up the tree, its event staged on the
    sweep's unit of work; those at the city stay overdue on its list. Returns how many moved."""
    i = t.action_items.c
    now = res.clock()
    rows = (
        await work.tx.execute(
            select(t.action_items)
            .where(i.state == ActionItemState.open.value, i.escalate_at <= now, below_the_top(i.holder))
            .order_by(i.escalate_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    moved = 0
    for row in rows:
        if (climb := climbed(row, now)) is None:
            continue
        values, event = climb
        await work.tx.execute(update(t.action_items).where(i.id == row.id).values(**values))
        work.uow.stage([event], case_id=event.case_id, cause=None)
        moved += 1
    return moved


__all__ = ["climbed", "escalate_overdue_action_items", "late_from"]
