"""The bulletin counted by PostgreSQL (services/audit/counted.py) equals the bulletin counted by its rules
in Python (services/audit/indicators.py `figures`), cell for cell, on the same happenings in the same
snapshot: for the city, a county and a township; for a month that is over and for the month still
running; over cases that move territory, close and reopen, are reported again, graded red and not
visited, referred to the police in an emergency and answered or not, planned, served late or on time,
and given action items by a joint meeting."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.audit import tables as t
from services.audit.agenda import REASONS, agenda, proposed
from services.audit.bulletins import node_happenings, snapshot
from services.audit.counted import counted_figures, unkept
from services.audit.indicators import TOTAL, Happening, Kind, Period, figures
from services.audit.keeper import keep_months, keep_running, wanted
from services.audit.ledger import happening_row, insert_happenings
from services.audit.quality import RULES, lacking, scores, to_correct
from services.audit.running import answered, keep
from shared.contracts.vocabulary import CHINA_STANDARD_TIME
from shared.sample_reports import villages
from shared.territory.registry import load_territory

TERRITORY = load_territory()
CITY = TERRITORY.city.code
TAG = f"counted-{uuid.uuid4().hex[:8]}-"


def _row(kind: Kind, case_id: uuid.UUID, at: datetime, n: int, **values) -> dict:
    """One happening as its row of `audit.happenings`."""
    values["categories"] = tuple(values.get("categories", ()))
    return happening_row(
        Happening(event_key=f"{TAG}{case_id}-{n}", case_id=case_id, kind=kind, at=at, **values)
    )


def _report(case_id: uuid.UUID, at: datetime, code: str, n: int = 0) -> dict:
    """A case reported at `at` through the channel `code`, in the territory's first village."""
    return _row(
        Kind.reported, case_id, at, n, jurisdiction=villages(TERRITORY)[0], code=code, child_ref=uuid.uuid4()
    )


def _cases(count: int, rng: random.Random, months: list[Period]) -> list[dict]:
    """Cases whose happenings take every turn a figure counts, some at the very same moment."""
    places, children = villages(TERRITORY), [uuid.uuid4() for _ in range(count // 3)]
    now = datetime.now(UTC)
    rows = []
    for _ in range(count):
        case_id, month = uuid.uuid4(), rng.choice(months)
        at = month.start + timedelta(
            seconds=rng.randrange(int((min(month.end, now) - month.start).total_seconds()))
        )
        n = iter(range(100))
        place = rng.choice(places)
        made = [
            _row(
                Kind.reported,
                case_id,
                at,
                next(n),
                jurisdiction=place,
                code=rng.choice(("hotline", "school", "hospital", "police")),
                child_ref=rng.choice(children),
                age=rng.choice((None, 3, 7, 12, 16)),
                categories=rng.sample(["left_behind", "abuse", "neglect", "begging"], rng.choice((1, 2))),
            )
        ]
        if rng.random() < 0.2:  # reported again (the same moment, now and then)
            again = at + timedelta(hours=rng.choice((0, 5, 24 * 40)))
            made.append(
                _row(
                    Kind.reported,
                    case_id,
                    again,
                    next(n),
                    jurisdiction=place,
                    code="hotline",
                    child_ref=made[0]["child_ref"],
                )
            )
        grade = rng.choice(("red", "orange", "blue", None))
        graded_at = at + timedelta(hours=rng.choice((0.5, 3, 30)))
        if grade:
            made.append(_row(Kind.graded, case_id, graded_at, next(n), code=grade, jurisdiction=place))
        if rng.random() < 0.4:
            made.append(
                _row(
                    Kind.needs_assessed, case_id, graded_at + timedelta(hours=rng.choice((10, 100))), next(n)
                )
            )
        if rng.random() < 0.4:
            made.append(_row(Kind.planned, case_id, at + timedelta(days=rng.choice((2, 20))), next(n)))
        for _ in range(rng.choice((0, 1, 2))):
            ref, agency = uuid.uuid4(), rng.choice(("police", "education", "social_work"))
            sent = graded_at + timedelta(minutes=rng.randrange(1, 300))
            made.append(
                _row(
                    Kind.referred,
                    case_id,
                    sent,
                    next(n),
                    agency=agency,
                    ref=ref,
                    emergency=grade == "red",
                    due_at=sent + timedelta(hours=rng.choice((2, 24, 72))),
                )
            )
            for state in rng.choice(
                (
                    (),
                    ("acknowledged",),
                    ("declined",),
                    ("created", "acknowledged", "done"),
                    ("acknowledged", "declined"),  # declined last: on the agenda
                    ("declined", "acknowledged"),  # declined, then taken after all: not
                )
            ):
                sent += timedelta(hours=rng.choice((1, 10, 50)))
                made.append(
                    _row(Kind.referral_changed, case_id, sent, next(n), code=state, agency=agency, ref=ref)
                )
        if rng.random() < 0.3:
            service, due = uuid.uuid4(), at + timedelta(days=rng.choice((3, 15)))
            for state in rng.choice((("planned",), ("planned", "in_progress"), ("planned", "delivered"))):
                made.append(
                    _row(
                        Kind.service_changed,
                        case_id,
                        at + timedelta(days=rng.choice((1, 10))),
                        next(n),
                        code=state,
                        ref=service,
                        due_at=due,
                    )
                )
        if rng.random() < 0.1:
            made.append(
                _row(
                    Kind.transferred,
                    case_id,
                    at + timedelta(days=3),
                    next(n),
                    jurisdiction=rng.choice(places),
                )
            )
        if rng.random() < 0.1:
            item, due = uuid.uuid4(), at + timedelta(days=5)
            made.append(
                _row(
                    Kind.action_item,
                    case_id,
                    at + timedelta(days=1),
                    next(n),
                    code="open",
                    agency="education",
                    ref=item,
                    due_at=due,
                )
            )
            if rng.random() < 0.7:
                done_at = at + timedelta(days=rng.choice((2, 9)))
                made.append(
                    _row(
                        Kind.action_item,
                        case_id,
                        done_at,
                        next(n),
                        code="done",
                        agency="education",
                        ref=item,
                        due_at=due,
                    )
                )
        if rng.random() < 0.25:
            closed = at + timedelta(days=rng.choice((4, 25)))
            made.append(
                _row(Kind.closed, case_id, closed, next(n), code=rng.choice(("risk_resolved", "moved_away")))
            )
            if rng.random() < 0.3:
                made.append(_row(Kind.reopened, case_id, closed + timedelta(days=2), next(n)))
        rows += [r for r in made if r["at"] < now]
    return rows


@pytest.fixture
async def happened(audit_sessions: async_sessionmaker[AsyncSession]):
    this = Period.parse(datetime.now(CHINA_STANDARD_TIME).strftime("%Y-%m"))
    months = [this, this.before(), this.before().before()]
    rows = _cases(1500, random.Random(24), months)
    async with audit_sessions.begin() as session:
        await insert_happenings(session, rows)
    yield months
    async with audit_sessions.begin() as session:
        await session.execute(t.happenings.delete().where(t.happenings.c.event_key.startswith(TAG)))


@pytest.mark.parametrize("level", ["city", "county", "township"])
async def test_the_database_counts_every_cell_as_the_rules_do(
    audit_sessions: async_sessionmaker[AsyncSession], happened, level: str
) -> None:
    county = TERRITORY.children(CITY)[0].code
    node = {"city": CITY, "county": county, "township": TERRITORY.children(county)[0].code}[level]
    children = tuple(child.code for child in TERRITORY.children(node))
    now = datetime.now(UTC)
    for period in happened[:2]:  # the month still running, and the one before it
        as_of = min(period.end, now)
        async with audit_sessions() as session, session.begin():
            await snapshot(session)
            by_rules = figures(await node_happenings(session, node, as_of), node, children, period, as_of)
            by_sql = await counted_figures(session, node, children, period, as_of)
        assert [t.key for t in by_sql.tables] == [t.key for t in by_rules.tables]
        for rules, sql in zip(by_rules.tables, by_sql.tables, strict=True):
            assert (sql.rows, sql.columns) == (rules.rows, rules.columns), rules.key
            differ = {
                key: (rules.cells[key], sql.cells[key])
                for key in rules.cells
                if rules.cells[key] != sql.cells[key]
            }
            assert differ == {}, f"{level} {period} {rules.key}: {differ}"
        counted = sum(c.value or 0 for c in by_rules.table("reports_by_channel").cells.values())
        assert counted > 0, "the test counts something"


async def test_the_month_before_is_counted_beside_in_the_same_snapshot(
    audit_sessions: async_sessionmaker[AsyncSession], happened
) -> None:
    """The bulletin counts the month before on a second connection at the same time: that connection
    sees exactly the snapshot of the first, not a report written after it began."""
    this, before = happened[0], happened[1]
    children = tuple(child.code for child in TERRITORY.children(CITY))
    as_of = min(this.end, datetime.now(UTC))
    late = _report(uuid.uuid4(), before.start + timedelta(days=3), "school")
    async with audit_sessions() as session, session.begin():
        await snapshot(session)
        alone = await counted_figures(session, CITY, children, this, as_of)
        async with audit_sessions.begin() as writer:  # committed after the snapshot began
            await insert_happenings(writer, [late])
        together = await counted_figures(session, CITY, children, this, as_of, beside=audit_sessions)
    assert together == alone
    async with audit_sessions() as session, session.begin():
        await snapshot(session)
        later = await counted_figures(session, CITY, children, this, as_of, beside=audit_sessions)
    school = [f.table("reports_by_channel").cell("school", "previous").value for f in (alone, later)]
    assert school[1] == school[0] + 1


async def test_a_month_that_is_over_is_kept_until_a_change_reaches_back_into_it(
    audit_sessions: async_sessionmaker[AsyncSession], happened
) -> None:
    """The month before is counted once and read again while nothing written since can change it: not a
    report of the running month; but a late report dated in it, or a case first reported in it being
    reported again now (whether a case was ever in the node decides "reported again"), has it counted
    again — and what is read is always what counting afresh gives."""
    this, before = happened[0], happened[1]
    children = tuple(child.code for child in TERRITORY.children(CITY))
    as_of = min(this.end, datetime.now(UTC))
    n = iter(range(10))

    async def bulletin(beside: async_sessionmaker[AsyncSession] | None = audit_sessions):
        async with audit_sessions() as session, session.begin():
            await snapshot(session)
            return await counted_figures(session, CITY, children, this, as_of, beside=beside)

    async def kept() -> list[str]:
        async with audit_sessions() as session:
            found = await session.execute(
                select(t.kept_periods.c.snapshot).where(
                    t.kept_periods.c.node == CITY,
                    t.kept_periods.c.start == before.start,
                    func.cardinality(t.kept_periods.c.children) == 0,
                )
            )
            return list(found.scalars())

    async def write(case_id: uuid.UUID, at: datetime) -> None:
        async with audit_sessions.begin() as writer:
            await insert_happenings(writer, [_report(case_id, at, "school", next(n))])

    def school(figures) -> int:
        return figures.table("reports_by_channel").cell("school", "previous").value or 0

    def previous(figures) -> dict:
        return {
            (t.key, row): c for t in figures.tables for (row, col), c in t.cells.items() if col == "previous"
        }

    first = await bulletin()
    once = await kept()
    assert len(once) == 1, "the month before is kept; the month running is not"

    await write(uuid.uuid4(), datetime.now(UTC) - timedelta(seconds=1))
    assert previous(await bulletin()) == previous(first)
    assert await kept() == once, "read again, not counted again"

    late = uuid.uuid4()
    await write(late, before.start + timedelta(days=2))
    again = await bulletin()
    assert school(again) == school(first) + 1
    twice = await kept()
    assert twice != once, "counted again and kept"

    async with audit_sessions.begin() as session:  # read ten minutes later: stamped with the newer snapshot
        await session.execute(update(t.kept_periods).values(kept_at=func.now() - timedelta(minutes=11)))
    assert previous(await bulletin()) == previous(again)
    assert await kept() != twice, "the counts that held, stamped with the snapshot they held in"
    twice = await kept()

    await write(late, datetime.now(UTC) - timedelta(seconds=1))  # the late case reported again now
    assert (await bulletin()) == (await bulletin(beside=None))
    assert await kept() != twice, "a case of the month before reported again: counted again"


async def test_the_months_over_are_counted_before_anyone_asks_and_again_when_reached(
    audit_sessions: async_sessionmaker[AsyncSession], happened
) -> None:
    """The keeper counts the city's and every county's months over, the latest first, and counts again
    only what a change reaches: a late report dated in the last month over has that month counted again
    (for every node: a change mark does not say where), and the month before it is left as kept."""
    before, earlier = happened[1], happened[2]
    now = datetime.now(UTC)
    periods = wanted(TERRITORY, now, 2)
    assert {p for _, _, p in periods} == {before, earlier}

    async def snapshots() -> dict[tuple[str, datetime], str]:
        k = t.kept_periods.c
        async with audit_sessions() as session:
            rows = await session.execute(
                select(k.node, k.start, k.snapshot).where(func.cardinality(k.children) > 0)
            )
            return {(node, start): snapshot for node, start, snapshot in rows}

    async def unkept_now():
        async with audit_sessions() as session:
            return await unkept(session, periods)

    assert await unkept_now() is not None, "the happenings just written reach back into both months"
    assert await keep_months(audit_sessions, TERRITORY, now, months=2, budget_s=600) > 0
    assert await unkept_now() is None
    assert await keep_months(audit_sessions, TERRITORY, now, months=2, budget_s=600) == 0
    async with audit_sessions.begin() as session:  # ten minutes on: the sweep stamps what holds anew
        await session.execute(update(t.kept_periods).values(kept_at=func.now() - timedelta(minutes=11)))
    aged = await snapshots()
    assert await keep_months(audit_sessions, TERRITORY, now, months=2, budget_s=600) == 0
    first = await snapshots()
    for node, _, period in periods:
        assert first[node, period.start] != aged[node, period.start], "stamped anew by the sweep"

    late = _report(uuid.uuid4(), before.start + timedelta(days=1), "police")
    async with audit_sessions.begin() as writer:
        await insert_happenings(writer, [late])
    assert await unkept_now() == (CITY, before), "the latest month first, the city first"
    await keep_months(audit_sessions, TERRITORY, now, months=2, budget_s=600)
    assert await unkept_now() is None
    second = await snapshots()
    for node, _, period in periods:
        changed = second[node, period.start] != first[node, period.start]
        assert changed == (period == before), (node, period)

    children = tuple(child.code for child in TERRITORY.children(CITY))
    async with audit_sessions() as session, session.begin():
        await snapshot(session)
        kept = await counted_figures(session, CITY, children, before, before.end, beside=audit_sessions)
        afresh = await counted_figures(session, CITY, children, before, before.end)
    assert kept == afresh
    assert kept.table("reports_by_channel").cell("police", TOTAL).value


async def test_the_running_month_is_answered_as_counted_at_most_fresh_s_ago(
    audit_sessions: async_sessionmaker[AsyncSession], happened
) -> None:
    """The running month's bulletin, counted on asking, is kept whole (its figures as of a moment and
    the ledger's heads of the same snapshot) and answered again while younger than `fresh_s`, though a
    report came since; older, or with `fresh_s` 0, it is counted anew. The sweep counts again the city's
    and each county's once older than its `refresh_s`, and never keeps an older count over a newer."""
    this = happened[0]
    children = tuple(child.code for child in TERRITORY.children(CITY))
    r = t.running_bulletins.c

    async def ask(fresh_s: float):
        async with audit_sessions() as session, session.begin():
            await snapshot(session)
            return await answered(session, audit_sessions, CITY, children, this, fresh_s)

    def police(made) -> int:
        return made.figures.table("reports_by_channel").cell("police", TOTAL).value

    async def age(seconds: float) -> None:  # the city's kept bulletin, as if counted `seconds` earlier
        async with audit_sessions.begin() as session:
            await session.execute(
                update(t.running_bulletins)
                .where(r.node == CITY)
                .values(as_of=r.as_of - timedelta(seconds=seconds))
            )

    try:
        first = await ask(120)  # counted, and kept
        assert first.computed_at == first.figures.as_of
        async with audit_sessions.begin() as writer:
            await insert_happenings(
                writer, [_report(uuid.uuid4(), datetime.now(UTC) - timedelta(seconds=1), "police")]
            )
        assert await ask(120) == first, "answered as kept: the same figures, moment and ledger heads"
        assert police(await ask(0)) == police(first) + 1, "counted on asking"

        await age(121)
        anew = await ask(120)
        assert anew.figures.as_of > first.figures.as_of and police(anew) == police(first) + 1
        assert await ask(120) == anew
        await keep(audit_sessions, CITY, children, first)
        assert await ask(120) == anew, "an older count does not replace a newer one"

        counties = len(TERRITORY.children(CITY))
        assert await keep_running(audit_sessions, TERRITORY, refresh_s=60) == counties, "not the city's"
        assert await keep_running(audit_sessions, TERRITORY, refresh_s=60) == 0
        await age(61)
        assert await keep_running(audit_sessions, TERRITORY, refresh_s=60) == 1, "the city's alone"
        swept = await ask(120)
        assert swept.figures.as_of > anew.figures.as_of and police(swept) == police(anew)
    finally:
        async with audit_sessions.begin() as session:
            await session.execute(t.running_bulletins.delete())


@pytest.mark.parametrize("level", ["city", "county"])
async def test_the_database_proposes_the_agenda_the_rules_do(
    audit_sessions: async_sessionmaker[AsyncSession], happened, level: str
) -> None:
    """A joint meeting's proposed agenda found from the facts (`proposed`) is the one the rules give
    from the node's happenings (`agenda`), case for case, now and at the end of the month before."""
    node = CITY if level == "city" else TERRITORY.children(CITY)[0].code
    for at in (datetime.now(UTC), happened[1].end):
        async with audit_sessions() as session, session.begin():
            await snapshot(session)
            by_rules = agenda(await node_happenings(session, node, at), node, at)
            by_sql = await proposed(session, node, at)
        assert by_sql == by_rules, f"{level} at {at}"
        assert {reason for p in by_rules for reason in p.reasons} == set(REASONS), "every reason is met"


@pytest.mark.parametrize("level", ["city", "county"])
async def test_the_database_finds_what_to_correct_as_the_rules_do(
    audit_sessions: async_sessionmaker[AsyncSession], happened, level: str
) -> None:
    """The open cases whose record lacks what a rule of data quality asks, found from the facts in pages
    (`lacking`), are the ones the rules give from the node's happenings (`to_correct`), in the same order,
    with the same rules and since when; one rule asked, only its cases; and each child's score is the
    bulletin's data-quality figure of the running month counted at the same moment."""
    node = CITY if level == "city" else TERRITORY.children(CITY)[0].code
    children = tuple(child.code for child in TERRITORY.children(node))
    this, at = happened[0], datetime.now(UTC)
    async with audit_sessions() as session, session.begin():
        await snapshot(session)
        by_rules = to_correct(await node_happenings(session, node, at), node, at)
        pages, total = [], None
        while total is None or len(pages) < total:
            page, total = await lacking(session, node, at, offset=len(pages), limit=40)
            assert page, "a page while some are left"
            pages += page
        only = {rule: await lacking(session, node, at, rule=rule, limit=10_000) for rule in RULES}
        found = await scores(session, node, children, at)
        bulletin = await counted_figures(session, node, children, this, at)
    assert pages == by_rules
    assert {rule for c in by_rules for rule in c.rules} == set(RULES), "every rule is met"
    for rule, (cases, count) in only.items():
        assert cases == [c for c in by_rules if rule in c.rules] and count == len(cases), rule
    quality = bulletin.table("data_quality")
    columns = [*((child, child) for child in children), (node, TOTAL)]
    assert [(s.node, s.open_cases, s.score) for s in found] == [
        (code, quality.cell("open_cases", column).value, quality.cell("quality_score", column).value)
        for code, column in columns
    ]
    assert found[-1].open_cases > found[-1].clean > 0
