"""The console's shape: one router per area of work (services/console/views/), each assembled once
in app.py, every page of the console still served (and only once); each person's first page by
role; the header's links by role; and the language switch's way back only ever a path of the site."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import services.console.views as views
from services.console.app import ROUTERS, build_console
from services.console.navigation import BOARD, DASHBOARD, INBOX, PAGES, REPORT, home_of, may_open, pages_for
from services.console.pages import local_path
from shared.auth import Principal
from shared.contracts.vocabulary import Role
from shared.settings import Settings

# Every page and form of the console, as a person's browser reaches them.
ROUTES = {
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("GET", "/sign-in/oidc"),
    ("GET", "/sign-in/oidc/callback"),
    ("POST", "/sign-out"),
    ("POST", "/language"),
    ("GET", "/"),
    ("GET", "/waiting"),
    ("GET", "/board"),
    ("GET", "/board/export.{kind}"),
    ("GET", "/board/children-export"),
    ("POST", "/board/children-export"),
    ("GET", "/inbox/export.{kind}"),
    ("GET", "/overdue-services/export.{kind}"),
    ("GET", "/find"),
    ("GET", "/cases/{case_id}"),
    ("GET", "/cases/{case_id}/child"),
    ("GET", "/cases/{case_id}/archive"),
    ("POST", "/cases/{case_id}/archive"),
    ("POST", "/cases/{case_id}/assignment"),
    ("POST", "/cases/{case_id}/review"),
    ("POST", "/cases/{case_id}/approvals"),
    ("POST", "/cases/{case_id}/reopening"),
    ("POST", "/cases/{case_id}/referrals/{referral_id}/withdrawal"),
    ("POST", "/cases/{case_id}/visits"),
    ("POST", "/cases/{case_id}/home-visits"),
    ("POST", "/cases/{case_id}/assessment-reports"),
    ("POST", "/cases/{case_id}/plans"),
    ("POST", "/cases/{case_id}/override"),
    ("GET", "/cases/{case_id}/records"),
    ("POST", "/cases/{case_id}/identification"),
    ("POST", "/cases/{case_id}/child"),
    ("POST", "/cases/{case_id}/records"),
    ("POST", "/cases/{case_id}/archive/save"),
    ("GET", "/cases/{case_id}/links/{link_id}/undo"),
    ("POST", "/cases/{case_id}/links/{link_id}/undo"),
    ("GET", "/report"),
    ("POST", "/report"),
    ("GET", "/children/search"),
    ("POST", "/children/search"),
    ("GET", "/inbox"),
    ("POST", "/inbox/{referral_id}"),
    ("GET", "/inbox/{referral_id}/{action}"),
    ("POST", "/cases/{case_id}/services"),
    ("POST", "/cases/{case_id}/services/{service_id}/withdrawal"),
    ("POST", "/cases/{case_id}/services/{service_id}/feedback"),
    ("POST", "/cases/{case_id}/consents"),
    ("POST", "/cases/{case_id}/consent-overrides"),
    ("POST", "/cases/{case_id}/consents/{consent_id}/withdrawal"),
    ("POST", "/cases/{case_id}/services/{service_id}/steps"),
    ("GET", "/services"),
    ("POST", "/services/{service_id}"),
    ("POST", "/services/{service_id}/unit"),
    ("GET", "/services/{service_id}/end"),
    ("POST", "/services/{service_id}/end"),
    ("GET", "/overdue-services"),
    ("GET", "/providers"),
    ("GET", "/providers/{provider_id}/contracts/{contract_id}/scorecard.xlsx"),
    ("POST", "/providers/{provider_id}/complaints/{complaint_id}"),
    ("POST", "/cases/{case_id}/services/{service_id}/complaints"),
    ("POST", "/providers"),
    ("GET", "/providers/{provider_id}"),
    ("POST", "/providers/{provider_id}/contracts"),
    ("GET", "/access"),
    ("GET", "/approvals"),
    ("POST", "/approvals/{approval_id}"),
    ("GET", "/dashboard"),
    ("GET", "/bulletins"),
    ("GET", "/bulletins/{territory}/{period}.{kind}"),
    ("GET", "/quality"),
    ("GET", "/quality/export.{kind}"),
    ("GET", "/cases/{case_id}/file"),
    ("POST", "/cases/{case_id}/file"),
    ("GET", "/meetings"),
    ("POST", "/meetings"),
    ("GET", "/meetings/{meeting_id}"),
    ("POST", "/meetings/{meeting_id}/attendance"),
    ("POST", "/meetings/{meeting_id}/decisions"),
    ("POST", "/meetings/{meeting_id}/action-items"),
    ("GET", "/meetings/{meeting_id}/minutes.pdf"),
    ("POST", "/inbox/action-items/{action_item_id}/done"),
    ("POST", "/inbox/action-items/{action_item_id}/asked"),
}


def _served(routes) -> list[tuple[str, str]]:
    return [(method, route.path) for route in routes for method in getattr(route, "methods", ())]


def test_every_area_of_work_is_a_router_and_each_is_assembled_once() -> None:
    modules = [
        importlib.import_module(f"{views.__name__}.{info.name}")
        for info in pkgutil.iter_modules(views.__path__)
    ]
    assert sorted(module.__name__.rsplit(".", 1)[1] for module in modules) == [
        "access",
        "approvals",
        "board",
        "bulletins",
        "cases",
        "dashboard",
        "delivery",
        "exports",
        "home",
        "identification",
        "inbox",
        "meetings",
        "overdue",
        "providers",
        "quality",
        "reports",
        "sign_in",
    ]
    assert {id(router) for router in ROUTERS} == {id(module.router) for module in modules}
    assert len(ROUTERS) == len(modules), "each router once"


def test_the_console_serves_every_page_once_and_nothing_but_health_of_its_own() -> None:
    served = [pair for router in ROUTERS for pair in _served(router.routes)]
    assert sorted(served) == sorted(set(served)), "no page served twice"
    assert set(served) == ROUTES
    app = build_console(Settings())
    own = set(_served(app.router.routes))
    assert own == {("GET", "/healthz"), ("GET", "/readyz")}, "app.py assembles; the pages live in views/"


def _person(role: Role, jurisdiction: str = "140402") -> Principal:
    whole = role in (Role.hotline, Role.operator, Role.auditor)
    return Principal(
        subject="u-someone",
        role=role,
        agency="police" if role == Role.agency_officer else None,
        provider="6f0e8d4a-1c2b-4d3e-9f00-000000000001" if role == Role.provider_worker else None,
        jurisdiction="" if whole else jurisdiction,
    )


@pytest.mark.parametrize(
    ("role", "jurisdiction", "home"),
    [
        (Role.hotline, "", "/report"),
        (Role.reporter, "140402", "/report"),
        (Role.caseworker, "140402", "/board?owner=me"),
        (Role.supervisor, "140402", "/board"),
        (Role.supervisor, "140402001", "/board"),
        (Role.supervisor, "1404", "/dashboard"),
        (Role.supervisor, "14", "/dashboard"),
        (Role.agency_officer, "140402", "/inbox"),
        (Role.provider_worker, "140402", "/services"),
        (Role.operator, "", "/board"),
        (Role.auditor, "", "/access"),
    ],
)
def test_each_person_lands_on_the_page_of_their_work(role: Role, jurisdiction: str, home: str) -> None:
    """A hotline operator takes a report; a caseworker works their own cases; a supervisor of a
    county its board, of a city the territory's numbers; an agency its inbox; an auditor who read
    children's data."""
    assert home_of(_person(role, jurisdiction)) == home


@pytest.mark.parametrize("role", list(Role))
def test_a_persons_first_page_is_one_their_header_links_and_their_role_opens(role: Role) -> None:
    person = _person(role)
    first = home_of(person).split("?")[0]
    assert first in [page.path for page in pages_for(person)]
    assert all(may_open(person, page) == (page in pages_for(person)) for page in PAGES)


def test_the_header_links_only_the_pages_a_role_opens() -> None:
    assert pages_for(_person(Role.hotline)) == [REPORT], "no board the hotline cannot read"
    assert pages_for(_person(Role.agency_officer)) == [INBOX]
    caseworker = pages_for(_person(Role.caseworker))
    assert BOARD in caseworker and DASHBOARD not in caseworker


@pytest.mark.parametrize(
    ("asked", "goes"),
    [
        ("/board?owner=me&grade=red", "/board?owner=me&grade=red"),
        ("/cases/x/child?purpose=assessment", "/cases/x/child?purpose=assessment"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("", "/"),
        ("javascript:alert(1)", "/"),
        ("/%5Ccross.test:8765/phish", "/"),
        ("/%5ccross.test", "/"),
        ("/\tx/host", "/"),
        ("/\t/host", "/"),
        ("/%09/host", "/"),
        ("/\n/host", "/"),
        ("/\r\n/host", "/"),
        ("/a\\b", "/"),
        ("/%2F/host", "/"),
        ("/\x00", "/"),
        ("/\x7f", "/"),
        ("/\x85/host", "/"),
        ("/" + "a" * 2048, "/"),
        ("/" + "a" * 2047, "/" + "a" * 2047),
        ("/find?q=%E7%8E%8B", "/find?q=%E7%8E%8B"),
    ],
)
def test_the_way_back_is_only_ever_a_path_of_the_site(asked: str, goes: str) -> None:
    assert local_path(asked) == goes
