"""Where each person goes in the console: the page they land on after signing in, the pages their
role opens (the header's links, and the one check each page makes), whether the header counts
what waits for them. Pure: the roles come from the services' own sets (shared/auth.py)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import CASE_READERS, CASE_SIDE, REPORTERS, SUPERVISORS, Principal
from shared.contracts.vocabulary import Role
from shared.territory.code import DIGITS, TerritoryLevel


@dataclass(frozen=True)
class Page:
    path: str
    title: str  # the catalog's message for its link
    roles: frozenset[Role]


INBOX = Page("/inbox", "Referrals to my agency", frozenset({Role.agency_officer}))
DELIVERY = Page("/services", "Services for my organisation", frozenset({Role.provider_worker}))
BOARD = Page("/board", "Board", CASE_READERS)
REPORT = Page("/report", "New report", REPORTERS)
SEARCH = Page("/children/search", "Find a child", CASE_SIDE)
APPROVALS = Page("/approvals", "Pending approval", SUPERVISORS)
# The services of cases' plans left overdue until they climbed to the supervisor's own level.
ESCALATED_SERVICES = Page("/overdue-services", "Overdue services escalated to us", SUPERVISORS)
DASHBOARD = Page(
    "/dashboard", "Territory dashboard", frozenset({Role.supervisor, Role.operator, Role.auditor})
)
ACCESS = Page("/access", "Who read children's data", frozenset({Role.supervisor, Role.auditor}))
# The providers a territory purchases services from, their contracts and how they answer for them.
PROVIDERS = Page(
    "/providers", "Providers and contracts", frozenset({Role.supervisor, Role.operator, Role.auditor})
)
# The territory's periodic bulletin (定期通报): its tables, its PDF and XLSX.
BULLETINS = Page("/bulletins", "Periodic bulletins", frozenset({Role.supervisor, Role.auditor}))
# What the record of a territory's open cases lacks (data quality): each node's score and the cases to
# correct (not a link of the header: the dashboard shows the scores and links to it).
DATA_QUALITY = Page("/quality", "Data quality", frozenset({Role.supervisor, Role.auditor}))
# Joint meetings (联席会议) of the departments: their agendas, decisions, action items and minutes.
MEETINGS = Page("/meetings", "Joint meetings", SUPERVISORS)
# The children's details of the board's cases, taken away in a password-protected archive: those who read a
# child's file by territory (not a link of the header: the board links to it with its filters).
CHILDREN_EXPORT = Page("/board/children-export", "Export the children's details", CASE_SIDE)
# A case's file as a PDF (its child's details, timeline, records and notes) for a court or a transfer, in
# a password-protected archive: linked from the case's page.
CASE_FILE = Page("/cases/{case_id}/file", "The case file", CASE_SIDE)
# The header's search box (a case number, an ID number or a name): not a link of the header.
FIND = Page("/find", "Find", CASE_SIDE)
PAGES = (
    INBOX,
    DELIVERY,
    BOARD,
    REPORT,
    SEARCH,
    APPROVALS,
    ESCALATED_SERVICES,
    DASHBOARD,
    PROVIDERS,
    BULLETINS,
    MEETINGS,
    ACCESS,
)  # the header's order

# Each role's first page: what its people do first (a hotline operator takes a report; an agency
# answers its referrals; a provider delivers its services; a caseworker works their own cases; an
# auditor reads who read children's data).
HOMES = {
    Role.hotline: REPORT.path,
    Role.reporter: REPORT.path,
    Role.caseworker: f"{BOARD.path}?owner=me",
    Role.supervisor: BOARD.path,
    Role.agency_officer: INBOX.path,
    Role.provider_worker: DELIVERY.path,
    Role.operator: BOARD.path,
    Role.auditor: ACCESS.path,
}


def may_open(principal: Principal, page: Page) -> bool:
    return principal.role in page.roles


def pages_for(principal: Principal) -> list[Page]:
    """The pages the person's header links to."""
    return [page for page in PAGES if may_open(principal, page)]


def is_director(principal: Principal) -> bool:
    """A supervisor of a whole city or province: they read the territory's numbers, not one county's cases."""
    return principal.role in SUPERVISORS and 0 < len(principal.jurisdiction) < DIGITS[TerritoryLevel.county]


def home_of(principal: Principal) -> str:
    """The page a person lands on after signing in."""
    return DASHBOARD.path if is_director(principal) else HOMES[principal.role]


def shows_waiting(principal: Principal) -> bool:
    """Whether the header counts what waits for the person: those who work cases."""
    return principal.role in CASE_SIDE


def shows_search(principal: Principal) -> bool:
    """Whether the header has the search box: those who look cases and children up."""
    return may_open(principal, FIND)
