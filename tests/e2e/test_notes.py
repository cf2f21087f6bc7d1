"""Notes that stay — on the real stack, every service a process: a note written with each action of
casework, assessment, follow-up and referral is read back with its record by the case's own caseworker
and supervisor (and by the agency, of its own referral), refused to another county and to another
agency, kept encrypted in the service's own table, on no Kafka topic and in no log — and every read,
refused ones too, is on the access ledger (none is shown that could not be recorded)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from shared.auth import Role
from shared.contracts.topics import TOPICS
from shared.notes import NOTE_MAX_CHARS
from tests.e2e.closing import open_referrals_of
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import assignment, hotline_report, token
from tests.e2e.test_access_audit import access_log, access_records_refused, eventually
from tests.e2e.test_casework import SUPERVISOR, _case, reported_and_owned
from tests.e2e.watch import TopicWatcher

LUZHOU, LUZHOU_VILLAGE = "140403", "140403100201"  # another county of the city
LUZHOU_SUPERVISOR = token(Role.supervisor, "sup-luzhou", jurisdiction=LUZHOU)
ELSEWHERE = token(Role.caseworker, "cw-luzhou", jurisdiction=LUZHOU)
POLICE = token(Role.agency_officer, "police-officer-7", agency="police")
CIVIL_AFFAIRS = token(Role.agency_officer, "civil-affairs-officer-2", agency="civil_affairs")
WOMENS_FEDERATION = token(Role.agency_officer, "womens-federation-officer-4", agency="womens_federation")
SCHEMAS = ("casework", "assessment", "followup", "referral")
# The guardian as the home visit found them: the mother works away, the grandmother is able and willing.
GUARDIAN_AWAY = {"present": False, "able": True, "willing": True, "reason": "working_away"}


class Notes:
    """Each action's note: its own words, naming the child as people do."""

    def __init__(self, child_name: str) -> None:
        self.child_name = child_name
        self.written: dict[str, str] = {}

    def __call__(self, action: str) -> str:
        self.written[action] = (
            f"{action} {uuid.uuid4().hex[:8]}：{self.child_name}说晚上不敢回家，脸上有新伤。"
        )
        return self.written[action]


async def _referrals(referral: httpx.AsyncClient, case_id: str, agencies: set[str]) -> dict[str, dict]:
    for _ in range(200):  # the grade's referrals are made a moment after it
        made = {r["agency"]: r for r in await open_referrals_of(referral, case_id, SUPERVISOR)}
        if agencies <= set(made):
            return made
        await asyncio.sleep(0.1)
    raise AssertionError(f"case {case_id} was not referred to {agencies}: {set(made)}")


async def _write_a_note_with_every_action(
    services: RunningServices, case_id: str, mine: dict[str, str], caseworker: str, note: Notes
) -> dict[str, dict]:
    """Every action of every service that takes a note, each with its own; the referrals made."""
    urls = services.urls
    async with (
        httpx.AsyncClient(base_url=urls["casework"]) as casework,
        httpx.AsyncClient(base_url=urls["assessment"]) as assessment,
        httpx.AsyncClient(base_url=urls["followup"]) as followup,
        httpx.AsyncClient(base_url=urls["referral"]) as referral,
    ):
        await _case(casework, case_id, SUPERVISOR)
        answers = [
            await casework.post(
                f"/v1/cases/{case_id}/assignment",
                headers=SUPERVISOR,
                json=assignment(caseworker, note=note("assignment")),
            )
        ]
        answers.append(
            await casework.post(
                f"/v1/cases/{case_id}/review",
                headers=mine,
                json={"decision": "screened_in", "note": note("review")},
            )
        )
        asked = await casework.post(
            f"/v1/cases/{case_id}/approvals",
            headers=mine,
            json={
                "kind": "transfer",
                "reason": "family_moved",
                "to_jurisdiction": LUZHOU_VILLAGE,
                "note": note("approval_request"),
            },
        )
        answers.append(asked)
        answers.append(
            await casework.post(
                f"/v1/approvals/{asked.json()['approval_id']}/decision",
                headers=LUZHOU_SUPERVISOR,
                json={"approve": False, "reason": "family_not_found", "note": note("approval_decision")},
            )
        )

        # Trimmed: what is read back is the text without the blanks around it.
        answers.append(
            await assessment.post(
                f"/v1/cases/{case_id}/home-visits",
                headers=mine,
                json={
                    "visited_at": datetime.now(UTC).isoformat(),
                    "indicators": ["visible_injury"],
                    "needs": ["psychological"],
                    "findings": ["bruises_on_face"],
                    "guardian": GUARDIAN_AWAY,
                    "note": f"  {note('home_visit')}\n ",
                },
            )
        )
        answers.append(
            await assessment.post(
                f"/v1/cases/{case_id}/assessment-reports",
                headers=mine,
                json={
                    "needs": ["legal"],
                    "conclusions": ["abuse_confirmed"],
                    "note": note("assessment_report"),
                },
            )
        )
        answers.append(
            await assessment.post(
                f"/v1/cases/{case_id}/plans",
                headers=mine,
                json={
                    "items": [
                        {"need": "psychological", "agencies": ["social_work"], "action": "weekly_counselling"}
                    ],
                    "note": note("plan"),
                },
            )
        )
        graded = (await assessment.get(f"/v1/cases/{case_id}/assessment", headers=mine)).json()
        other_grade = "orange" if graded["risk_level"] == "red" else "red"
        answers.append(
            await assessment.post(
                f"/v1/cases/{case_id}/override",
                headers=SUPERVISOR,
                json={"risk_level": other_grade, "reason": "family_support_found", "note": note("override")},
            )
        )

        for _ in range(100):  # the grade reaches follow-up a moment after it is made
            visit = await followup.post(
                f"/v1/cases/{case_id}/visits",
                headers=mine,
                json={
                    "visited_at": datetime.now(UTC).isoformat(),
                    "needs_met": ["psychological"],
                    "note": note("visit"),
                },
            )
            if visit.status_code != 404:
                break
            await asyncio.sleep(0.1)
        answers.append(visit)

        made = await _referrals(referral, case_id, {"police", "civil_affairs", "womens_federation"})
        police = made["police"]["referral_id"]
        # Each person is offered what the lifecycle lets them do: the police their answers, the case's side
        # the withdrawal of each open referral.
        offered = {
            r["agency"]: r["actions"]
            for r in (await referral.get("/v1/referrals", params={"case_id": case_id}, headers=POLICE)).json()
        }
        assert offered == {"police": ["acknowledge", "start", "decline"]}, offered
        listed = (await referral.get("/v1/referrals", params={"case_id": case_id}, headers=mine)).json()
        assert {tuple(r["actions"]) for r in listed} == {("withdraw",)}
        for action, body in (
            ("acknowledge", {}),
            ("start", {}),
            ("complete", {"outcome": "not_successful", "reason": "family_moved_away"}),
        ):
            answers.append(
                await referral.post(
                    f"/v1/referrals/{police}/responses",
                    headers=POLICE,
                    json={"action": action, **body, "note": note(action)},
                )
            )
        answers.append(
            await referral.post(
                f"/v1/referrals/{made['civil_affairs']['referral_id']}/responses",
                headers=CIVIL_AFFAIRS,
                json={"action": "decline", "reason": "handled_by_another_station", "note": note("decline")},
            )
        )
        withdrawn = made["womens_federation"]["referral_id"]
        answers.append(
            await referral.post(
                f"/v1/referrals/{withdrawn}/withdrawal",
                headers=mine,
                json={"reason": "no_longer_needed", "note": note("withdrawal")},
            )
        )
    for answer in answers:
        assert answer.status_code in (200, 201), answer.text
    return made


async def test_a_note_with_each_action_is_read_back_by_the_cases_people_only_kept_sealed_and_never_sent(
    infra, services: RunningServices, tmp_path_factory
) -> None:
    report = hotline_report(indicators=["visible_injury"])  # abuse, no immediate danger: its grade can move
    note = Notes(report["child"]["name"])
    caseworker = f"cw-{uuid.uuid4().hex[:8]}"
    mine = token(Role.caseworker, caseworker, jurisdiction="140402")
    every_topic = sorted(TOPICS)
    async with TopicWatcher(infra.kafka_bootstrap, every_topic) as watcher:
        case_id = await reported_and_owned(infra, report)
        made = await _write_a_note_with_every_action(services, case_id, mine, caseworker, note)
        police, withdrawn = made["police"]["referral_id"], made["womens_federation"]["referral_id"]
        urls = services.urls
        async with httpx.AsyncClient() as http:
            case = await http.get(f"{urls['casework']}/v1/cases/{case_id}", headers=mine)
            child_ref = case.json()["child_ref"]
            reads = {
                "casework": f"{urls['casework']}/v1/cases/{case_id}/notes",
                "assessment": f"{urls['assessment']}/v1/cases/{case_id}/records",
                "followup": f"{urls['followup']}/v1/cases/{case_id}/visits",
                "referral": f"{urls['referral']}/v1/referrals/{police}/answers",
                "referral_case": f"{urls['referral']}/v1/cases/{case_id}/referral-answers",
            }
            shown = {
                service: await http.get(url, params={"purpose": "case_planning"}, headers=mine)
                for service, url in reads.items()
            }
            acting = {"purpose": "protection_action"}
            supervised = await http.get(
                reads["casework"], params={"purpose": "supervision"}, headers=SUPERVISOR
            )
            by_police = await http.get(reads["referral"], params=acting, headers=POLICE)
            withdrawal_told = await http.get(
                f"{urls['referral']}/v1/referrals/{withdrawn}/answers",
                params=acting,
                headers=WOMENS_FEDERATION,
            )
            elsewhere = {
                service: await http.get(url, params={"purpose": "case_planning"}, headers=ELSEWHERE)
                for service, url in reads.items()
            }
            agency_for_the_case = await http.get(reads["referral_case"], params=acting, headers=POLICE)
            not_its_referral = await http.get(
                reads["referral"], params={"purpose": "protection_action"}, headers=CIVIL_AFFAIRS
            )
            unexplained = await http.get(reads["casework"], headers=mine)
            auditor = await http.get(
                reads["casework"],
                params={"purpose": "supervision"},
                headers=token(Role.auditor, "inspector-2"),
            )
        await asyncio.sleep(1.0)  # what the reads staged (access records) reaches the topics too
    written = note.written

    # Read back with each record, by the case's caseworker.
    for service, answer in shown.items():
        assert answer.status_code == 200, (service, answer.text)
    casework_notes = {n["action"]: n for n in shown["casework"].json()["notes"]}
    assert {action: n["text"] for action, n in casework_notes.items()} == {
        a: written[a] for a in ("assignment", "review", "approval_request", "approval_decision")
    }
    assert casework_notes["assignment"]["written_by"] == "sup-chengqu"
    assert casework_notes["approval_decision"]["written_by"] == "sup-luzhou"
    assert supervised.status_code == 200 and supervised.json()["notes"] == shown["casework"].json()["notes"]
    records = shown["assessment"].json()["records"]
    by_kind = {r["kind"]: r for r in records}
    assert {kind: r["note"] for kind, r in by_kind.items()} == {
        kind: written[kind] for kind in ("home_visit", "assessment_report", "plan", "override")
    }
    visit = by_kind["home_visit"]
    assert (visit["indicators"], visit["needs"], visit["details"], visit["recorded_by"]) == (
        ["visible_injury"],
        ["psychological"],
        {"findings": ["bruises_on_face"], "guardian": GUARDIAN_AWAY},
        caseworker,
    )
    assert by_kind["plan"]["details"]["items"][0]["action"] == "weekly_counselling"
    assert [r["occurred_at"] for r in records] == sorted((r["occurred_at"] for r in records), reverse=True)
    (visited,) = shown["followup"].json()["visits"]
    assert (visited["note"], visited["needs_met"], visited["visitor_ref"]) == (
        written["visit"],
        ["psychological"],
        caseworker,
    )
    answered = shown["referral"].json()
    assert [n["action"] for n in answered["notes"]] == ["complete", "start", "acknowledge"], "newest first"
    assert [n["text"] for n in answered["notes"]] == [
        written[a] for a in ("complete", "start", "acknowledge")
    ]
    ended = answered["referral"]
    assert (ended["state"], ended["outcome"], ended["reason"]) == (
        "done",
        "not_successful",
        "family_moved_away",
    )

    # The case's side reads every agency's answers at once, each under its agency, newest first; an agency
    # reads its own referral's alone.
    every_answer = [(n["agency"], n["action"], n["text"]) for n in shown["referral_case"].json()["notes"]]
    assert every_answer == [
        ("womens_federation", "withdrawal", written["withdrawal"]),
        ("civil_affairs", "decline", written["decline"]),
        *[("police", a, written[a]) for a in ("complete", "start", "acknowledge")],
    ]
    assert agency_for_the_case.status_code == 403

    # The agency reads the notes of its own referrals — its answers, and the withdrawal told to it.
    assert by_police.status_code == 200 and by_police.json()["notes"] == answered["notes"]
    assert withdrawal_told.status_code == 200, withdrawal_told.text
    assert [(n["action"], n["text"]) for n in withdrawal_told.json()["notes"]] == [
        ("withdrawal", written["withdrawal"])
    ]

    # Refused: another county, an agency that does not hold the referral, a read without a purpose.
    for service, answer in elsewhere.items():
        assert answer.status_code == 404, (service, answer.status_code)
    assert not_its_referral.status_code == 404
    assert unexplained.status_code == 422 and unexplained.json()["detail"][0]["loc"] == ["query", "purpose"]
    assert auditor.status_code == 403, "an auditor inspects the record of reads, not the notes"
    refused_texts = [a.text for a in (*elsewhere.values(), not_its_referral, unexplained, auditor)]
    assert not [text for text in refused_texts for secret in written.values() if secret in text]

    # Never on the bus: not on any topic, dead letters included, nor in any header.
    assert watcher.seen, "the watcher saw the actions' events"
    for seen in watcher.seen:
        carried = seen.value.decode("utf-8", "replace") + str(seen.headers)
        assert not [a for a, text in written.items() if text in carried], f"a note travelled on {seen.topic}"

    # Kept sealed: each service's own table holds the note bound to its row, never the text.
    url = make_url(infra.database_url)
    connection = await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port, database=url.database
    )
    try:
        stored = {
            schema: await connection.fetch(
                f"SELECT * FROM {schema}.notes WHERE case_id = $1", uuid.UUID(case_id)
            )
            for schema in SCHEMAS
        }
        details = await connection.fetchval(
            "SELECT string_agg(details::text, ' ') FROM assessment.needs_records WHERE case_id = $1",
            uuid.UUID(case_id),
        )
    finally:
        await connection.close()
    assert {schema: len(rows) for schema, rows in stored.items()} == {
        "casework": 4,
        "assessment": 4,
        "followup": 1,
        "referral": 5,
    }
    for rows in stored.values():
        for row in rows:
            raw = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
            # Nor any part of it: the words after the action's name are the note's own.
            assert not [a for a, text in written.items() if text.split(" ", 1)[1][:9].encode() in raw]
    assert not [a for a, text in written.items() if text in details], "the codes are kept without the note"

    # Never in a log line of any service.
    logs = "".join(
        path.read_text(errors="replace")
        for path in tmp_path_factory.getbasetemp().glob("service-logs*/*.log")
    )
    assert logs and not [a for a, text in written.items() if text in logs]

    # Every read is on the access ledger, named by the child: who, which record, why — refused ones too.
    def complete(log: list[dict]) -> bool:
        return len([e for e in log if e["record"] == "case_notes"]) >= 14

    log = [e for e in await access_log(services, child_ref, until=complete) if e["record"] == "case_notes"]
    shown_entries = sorted(
        (e["accessor_ref"], e["purpose"], e["agency"]) for e in log if e["outcome"] == "shown"
    )
    assert shown_entries == sorted(
        [(caseworker, "case_planning", None)] * len(reads)
        + [
            ("sup-chengqu", "supervision", None),
            ("police-officer-7", "protection_action", "police"),
            ("womens-federation-officer-4", "protection_action", "womens_federation"),
        ]
    )
    assert all(e["fields"] == ["notes"] for e in log if e["outcome"] == "shown")
    assert {(e["access_id"]) for e in log} >= {a.json()["access_id"] for a in (*shown.values(), by_police)}
    assert next(e for e in log if e["agency"] == "police")["referral_id"] == police
    refused = sorted((e["accessor_ref"], e["refusal"]) for e in log if e["outcome"] == "refused")
    assert refused == sorted(
        [("cw-luzhou", "outside_territory")] * len(reads) + [("civil-affairs-officer-2", "other_agency")]
    )
    producers = {s.json()["producer"] for s in watcher.matching("audit.access")}
    assert {"casework", "assessment", "followup", "referral"} <= producers


async def test_a_note_longer_than_the_rule_is_refused_naming_the_note_and_nothing_is_kept(
    infra, services: RunningServices
) -> None:
    case_id = await reported_and_owned(infra, hotline_report())
    mine = token(Role.caseworker, f"cw-{uuid.uuid4().hex[:8]}", jurisdiction="140402")
    too_long = "很" * (NOTE_MAX_CHARS + 1)
    just_right = " " * 20 + "好" * NOTE_MAX_CHARS + " " * 20  # the blanks around it are trimmed first
    async with httpx.AsyncClient(base_url=services.urls["assessment"]) as assessment:
        refused = await assessment.post(
            f"/v1/cases/{case_id}/assessment-reports",
            headers=mine,
            json={"conclusions": ["abuse_confirmed"], "note": too_long},
        )
        report = f"/v1/cases/{case_id}/assessment-reports"
        kept = await eventually(
            lambda: assessment.post(
                report, headers=mine, json={"conclusions": ["abuse_confirmed"], "note": just_right}
            ),
            lambda answer: answer.status_code != 404,
        )
        records = (
            await assessment.get(
                f"/v1/cases/{case_id}/records", params={"purpose": "assessment"}, headers=mine
            )
        ).json()["records"]
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "note"]
    assert "很很很" not in refused.text, "a refusal never echoes the note"
    assert kept.status_code == 201, kept.text
    assert [r["note"] for r in records] == ["好" * NOTE_MAX_CHARS], "the refused report left nothing behind"


async def test_no_note_is_shown_when_its_read_cannot_be_recorded(infra, services: RunningServices) -> None:
    case_id = await reported_and_owned(infra, hotline_report())
    caseworker = f"cw-{uuid.uuid4().hex[:8]}"
    mine = token(Role.caseworker, caseworker, jurisdiction="140402")
    text = f"{uuid.uuid4().hex[:8]}：孩子说不敢回家。"
    async with httpx.AsyncClient(base_url=services.urls["casework"]) as casework:
        await _case(casework, case_id, SUPERVISOR)
        assigned = await casework.post(
            f"/v1/cases/{case_id}/assignment", headers=SUPERVISOR, json=assignment(caseworker, note=text)
        )
        assert assigned.status_code == 200, assigned.text
        with access_records_refused(infra.database_url, "casework"):
            unrecorded = await casework.get(
                f"/v1/cases/{case_id}/notes", params={"purpose": "case_planning"}, headers=mine
            )
        recorded = await casework.get(
            f"/v1/cases/{case_id}/notes", params={"purpose": "case_planning"}, headers=mine
        )
    assert unrecorded.status_code == 500 and text not in unrecorded.text
    assert recorded.status_code == 200 and [n["text"] for n in recorded.json()["notes"]] == [text]
