"""The `cpnet` command line: run a service, manage the local stack, topics and migrations."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from cpnet.bulletin import bulletin_app
from cpnet.oneshot import audit_session as _audit_session
from cpnet.oneshot import fail as _fail
from shared.errors import ConfigurationError, InfrastructureUnavailable
from shared.settings import get_settings

app = typer.Typer(help="cpnet — the Child Protection Network.", no_args_is_help=True, add_completion=False)
stack_app = typer.Typer(help="The local real stack: Kafka (KRaft) and PostgreSQL, no Docker needed.")
topics_app = typer.Typer(help="Kafka topics of the registry.")
db_app = typer.Typer(help="Database migrations (Alembic), one schema per service.")
contracts_app = typer.Typer(help="Event contracts.")
token_app = typer.Typer(
    help="Bearer tokens: signed by the issuer's Ed25519 key, verified with the public JWKS."
)
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
app.add_typer(db_app, name="db")
app.add_typer(contracts_app, name="contracts")
agency_app = typer.Typer(help="The agency consumer kit: what each agency runs on its own side.")
audit_app = typer.Typer(help="The tamper-evident ledger: verify it, checkpoint it, export its checkpoints.")
app.add_typer(audit_app, name="audit")
app.add_typer(agency_app, name="agency")
app.add_typer(token_app, name="token")
import_app = typer.Typer(help="The screening import (排查摸底): a county's survey of every child.")
app.add_typer(import_app, name="import")
bench_app = typer.Typer(help="Benchmarks against the real stack: they print figures and assert nothing.")
app.add_typer(bench_app, name="bench")
users_app = typer.Typer(help="The console's people: who signs in, with which role, agency and territory.")
app.add_typer(users_app, name="users")
demo_app = typer.Typer(
    help="The demonstration: people of each role and a county of cases (development only)."
)
app.add_typer(demo_app, name="demo")
app.add_typer(bulletin_app, name="bulletin")


@app.callback()
def _quiet_client_libraries() -> None:
    """One-shot commands report failures in one line of their own; the Kafka client's
    connection warnings would only repeat it as noise. `serve` configures logging afresh
    (shared.logging): there the client's warnings are kept, and folded into one line per
    outage (shared.outage)."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def one_line_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Operators get one line naming what failed, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from cpnet.stack import StackError

        try:
            return func(*args, **kwargs)
        except (InfrastructureUnavailable, ConfigurationError, StackError) as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            raise typer.Exit(code=130) from None

    return wrapper


@stack_app.command("up")
@one_line_errors
def stack_up() -> None:
    """Start Kafka and PostgreSQL (idempotent) and wait until both are ready."""
    from cpnet.stack import Stack

    stack = Stack(get_settings())
    stack.up()
    for name, state in stack.status().items():
        typer.echo(f"{name}: {state}")


@stack_app.command("down")
@one_line_errors
def stack_down() -> None:
    """Stop exactly the processes `stack up` started."""
    from cpnet.stack import Stack

    stopped = Stack(get_settings()).down()
    typer.echo("stopped " + ", ".join(stopped) if stopped else "nothing of ours was running")


@stack_app.command("status")
@one_line_errors
def stack_status() -> None:
    """Show whether Kafka and PostgreSQL of the stack are running."""
    from cpnet.stack import Stack

    report = Stack(get_settings()).status()
    for name, state in report.items():
        typer.echo(f"{name}: {state}")
    if any(not state.startswith("running") for state in report.values()):
        raise typer.Exit(code=3)


@topics_app.command("create")
@one_line_errors
def topics_create() -> None:
    """Create every topic of the registry that does not exist yet."""
    from shared.contracts.topics import TOPICS
    from shared.health import require_kafka
    from shared.messaging.admin import create_topics
    from shared.messaging.security import client_security

    settings = get_settings()
    security = client_security(settings)
    asyncio.run(require_kafka(settings.kafka_bootstrap, security=security))
    created = asyncio.run(
        create_topics(
            settings.kafka_bootstrap,
            list(TOPICS.values()),
            replication_factor=settings.kafka_replication_factor,
            security=security,
        )
    )
    typer.echo(f"created {len(created)} topics, {len(TOPICS) - len(created)} existed")


@db_app.command("upgrade")
@one_line_errors
def db_upgrade(
    service: Annotated[str | None, typer.Argument(help="one service; all when omitted")] = None,
) -> None:
    """Apply every service's migrations to its own schema (and the console's to its)."""
    from cpnet.registry import OTHER_SCHEMAS, migrated_schemas, upgrade
    from shared.health import require_database

    settings = get_settings()
    asyncio.run(require_database(settings.database_url))
    if service is None:
        names = migrated_schemas(_services(None))
    else:
        names = [service] if service in OTHER_SCHEMAS else _services(service)
    for name in names:
        upgrade(name, settings.database_url)
        typer.echo(f"{name}: schema up to date")


@contracts_app.command("export")
def contracts_export(
    directory: Annotated[Path, typer.Argument(help="where to write the schema files")] = Path("schemas"),
) -> None:
    """Write the JSON Schema of every event contract into DIRECTORY."""
    from shared.contracts.export import export_schemas

    for path in export_schemas(directory):
        typer.echo(str(path))


@token_app.command("issue")
def token_issue(
    role: Annotated[
        str,
        typer.Option(
            help="hotline | reporter | caseworker | supervisor | agency_officer | provider_worker | "
            "operator | auditor"
        ),
    ],
    subject: Annotated[str | None, typer.Option(help="pseudonymous user id (default dev-<role>)")] = None,
    agency: Annotated[str | None, typer.Option(help="the agency of an agency_officer, e.g. police")] = None,
    provider: Annotated[
        str | None, typer.Option(help="the provider (its id) a provider_worker works for")
    ] = None,
    jurisdiction: Annotated[
        str,
        typer.Option(
            help="territory code prefix, e.g. 1404 or 140402; "
            "empty = everywhere (operator, auditor, hotline only)"
        ),
    ] = "",
    ttl_hours: Annotated[
        float | None,
        typer.Option(
            help="hours until the token expires (default 8, at most CPNET_AUTH_MAX_TOKEN_TTL_MINUTES)"
        ),
    ] = None,
) -> None:
    """Print a bearer token (only the token, so
    TOKEN=$(cpnet token issue --role caseworker --jurisdiction 1404) works)."""
    from datetime import timedelta

    from shared.auth import Role, issue_token

    if role not in Role.__members__:
        _fail(f"unknown role {role!r} (known: {', '.join(Role)})")
    try:
        settings = get_settings()
    except ValueError as exc:  # a misconfigured secret (ConfigurationError)
        _fail(str(exc))
    longest = settings.auth_max_token_ttl_minutes / 60
    hours = min(8.0, longest) if ttl_hours is None else ttl_hours
    if not 0 < hours <= longest:
        _fail(f"--ttl-hours must be more than 0 and at most {longest:g} (CPNET_AUTH_MAX_TOKEN_TTL_MINUTES)")
    try:
        token = issue_token(
            settings,
            subject=subject or f"dev-{role}",
            role=role,
            agency=agency,
            jurisdiction=jurisdiction,
            provider=provider,
            ttl=timedelta(hours=hours),
        )
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(token)


@token_app.command("jwks")
@one_line_errors
def token_jwks() -> None:
    """Print the JWKS of the issuer's key (CPNET_AUTH_SIGNING_KEY): the public key the services are
    given as CPNET_AUTH_JWKS. The private key never leaves the issuer."""
    import json

    from shared.token_keys import jwks_of, signing_key

    try:
        settings = get_settings()
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(jwks_of(signing_key(settings.auth_signing_key))))


PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="read the password from standard input (one line) instead of asking"
    ),
]


def _new_password(from_stdin: bool) -> str:
    import sys

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def _users(action: Callable[..., Any]) -> Any:
    """Run one change to the console's people in its own transaction; one line on refusal."""
    from datetime import UTC, datetime

    from services.console.users import UserError
    from shared.db.engine import make_engine
    from shared.health import require_database

    settings = get_settings()
    asyncio.run(require_database(settings.database_url))

    async def run() -> Any:
        engine = make_engine(settings.database_url)
        try:
            async with engine.begin() as connection:
                return await action(connection, datetime.now(UTC))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except UserError as exc:
        _fail(str(exc))


@users_app.command("add")
@one_line_errors
def users_add(
    username: Annotated[str, typer.Argument(help="what the person types to sign in")],
    role: Annotated[
        str, typer.Option(help="caseworker, supervisor, agency_officer, reporter, operator, auditor…")
    ],
    agency: Annotated[str | None, typer.Option(help="an agency_officer's agency, e.g. police")] = None,
    jurisdiction: Annotated[str, typer.Option(help="territory prefix the person works in, e.g. 140402")] = "",
    provider: Annotated[
        str | None, typer.Option(help="a provider_worker's provider: its id in the registry (referral)")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a person who signs in to the console (the password is asked for, never an argument)."""
    from services.console.users import add_user

    password = _new_password(password_stdin)
    account = _users(
        lambda session, now: add_user(
            session,
            username,
            password,
            role=role,
            agency=agency,
            jurisdiction=jurisdiction,
            provider=provider,
            now=now,
        )
    )
    typer.echo(
        f"added {account.username} ({account.role}, {account.jurisdiction or 'everywhere'}): "
        f"known to the services as {account.subject}"
    )


@users_app.command("disable")
@one_line_errors
def users_disable(username: Annotated[str, typer.Argument()]) -> None:
    """Stop a person signing in; their open sessions end now."""
    from services.console.users import disable_user

    account = _users(lambda session, now: disable_user(session, username))
    typer.echo(f"disabled {account.username}")


@users_app.command("reset-password")
@one_line_errors
def users_reset_password(
    username: Annotated[str, typer.Argument()], password_stdin: PasswordStdin = False
) -> None:
    """Give a person a new password (ends a lock-out and their open sessions)."""
    from services.console.users import reset_password

    password = _new_password(password_stdin)
    account = _users(lambda session, now: reset_password(session, username, password, now=now))
    typer.echo(f"new password set for {account.username}")


@users_app.command("link-oidc")
@one_line_errors
def users_link_oidc(
    username: Annotated[str, typer.Argument()],
    subject: Annotated[
        str,
        typer.Option(
            help="the provider's `sub` for the person (the console's refusal page shows it to them)"
        ),
    ],
    issuer: Annotated[
        str | None, typer.Option(help="the provider's issuer; default CPNET_CONSOLE_OIDC_ISSUER")
    ] = None,
) -> None:
    """Let a person sign in with their account at the identity provider: its issuer and subject,
    matched exactly (never a username the provider sends)."""
    from services.console.settings import ConsoleSettings
    from services.console.users import link_identity

    chosen = issuer or get_settings().of_kind(ConsoleSettings).console_oidc_issuer
    if not chosen:
        _fail("--issuer is needed (no CPNET_CONSOLE_OIDC_ISSUER is configured)")
    account = _users(lambda session, now: link_identity(session, username, issuer=chosen, subject=subject))
    typer.echo(f"linked {account.username} to {account.oidc_subject} at {account.oidc_issuer}")


@users_app.command("unlink-oidc")
@one_line_errors
def users_unlink_oidc(username: Annotated[str, typer.Argument()]) -> None:
    """Stop a person signing in with the identity provider's account linked to them; their sessions end."""
    from services.console.users import unlink_identity

    account = _users(lambda session, now: unlink_identity(session, username))
    typer.echo(f"unlinked {account.username} from the identity provider")


@demo_app.command("seed")
@one_line_errors
def demo_seed(
    cases: Annotated[
        int,
        typer.Option(
            min=1,
            max=400,
            help="children reported in the demonstration county (within a supervisor's write rate limit)",
        ),
    ] = 300,
    seed: Annotated[int, typer.Option(help="seed of the reports' randomness")] = 12,
) -> None:
    """Fill the demonstration county with realistic reports (and a third of its cases assigned to the
    demonstration caseworker), with the system running (`make run`). Refused in production."""
    from datetime import UTC, datetime

    from services.console.demo import ensure_demo_people, seed_county
    from shared.health import require_service

    settings = get_settings()
    if settings.environment == "production":
        _fail("the demonstration is for development only (CPNET_ENVIRONMENT=production)")
    for service in ("intake", "casework"):
        asyncio.run(require_service(service, f"http://{settings.http_host}:{settings.port_of(service)}"))
    _users(lambda session, now: ensure_demo_people(session, now=datetime.now(UTC)))
    figures = asyncio.run(seed_county(settings, cases=cases, seed=seed, say=typer.echo))
    typer.echo(", ".join(f"{key.replace('_', ' ')} {value}" for key, value in figures.items()))


@app.command("serve")
@one_line_errors
def serve(
    service: Annotated[str, typer.Argument(help="intake | assessment | referral | followup")],
    port: Annotated[int | None, typer.Option(help="HTTP port (default from CPNET_<SERVICE>_PORT)")] = None,
) -> None:
    """Run one service: its HTTP API, Kafka consumers and outbox relay (or the console: its pages)."""
    if service == "console":
        from services.console.app import run_console

        run_console(get_settings(), port=port)
        return
    from cpnet.registry import definition_of
    from shared.service import run_service

    (name,) = _services(service)
    run_service(definition_of(name), get_settings(), port=port)


@agency_app.command("listen")
@one_line_errors
def agency_listen(
    agency: Annotated[str, typer.Option(help="police, education, legal_aid, …")],
    jurisdiction: Annotated[str, typer.Option(help="only this territory's referrals (a code prefix)")] = "",
    out: Annotated[Path | None, typer.Option(help="append each referral as a JSON line here")] = None,
    webhook: Annotated[str | None, typer.Option(help="POST each referral here")] = None,
    state: Annotated[
        Path | None, typer.Option(help="acknowledged ids (default: beside --out, or ./)")
    ] = None,
    responder: Annotated[
        str, typer.Option(help="who acknowledges, as the agency names its officer")
    ] = "agency-kit",
) -> None:
    """Receive this agency's referrals, hand each over, then acknowledge it. Ctrl-C or SIGTERM stops
    it after the referral in hand."""
    from cpnet.agency import listen
    from cpnet.signals import stop_on_signals
    from shared.contracts.vocabulary import Agency
    from shared.health import require_kafka

    try:
        chosen = Agency(agency)
    except ValueError:
        _fail(f"unknown agency {agency!r} (known: {', '.join(a.value for a in Agency)})")
    if not jurisdiction.isdigit() and jurisdiction:
        _fail("--jurisdiction must be a code prefix of digits, e.g. 1404")
    if out is None and webhook is None:
        _fail("give --out FILE or --webhook URL: where should referrals go?")
    from shared.messaging.security import client_security

    settings = get_settings()
    security = client_security(settings)
    asyncio.run(require_kafka(settings.kafka_bootstrap, security=security))
    state = state or (out.with_name(out.name + ".acked") if out else Path(f"agency-{agency}.acked"))
    typer.echo(f"listening for {chosen} referrals{' in ' + jurisdiction if jurisdiction else ''}…", err=True)

    async def until_stopped() -> None:
        with stop_on_signals(asyncio.Event()) as stop:
            await listen(
                bootstrap=settings.kafka_bootstrap,
                agency=chosen,
                jurisdiction=jurisdiction,
                out=out,
                webhook=webhook,
                state=state,
                responder=responder,
                security=security,
                echo=lambda line: typer.echo(line, err=True),
                stop=stop,
            )

    asyncio.run(until_stopped())
    typer.echo("stopped: every referral handed over is acknowledged", err=True)


@import_app.command("template")
def import_template(
    out: Annotated[Path, typer.Option(help="where to write the XLSX template")] = Path(
        "screening-template.xlsx"
    ),
) -> None:
    """Write the survey's XLSX template: zh-CN and English headers, every choice a drop-down."""
    from cpnet.importer.template import write_template

    typer.echo(str(write_template(out)))


@import_app.command("screening")
@one_line_errors
def import_screening(
    file: Annotated[
        Path, typer.Argument(help="the survey: .csv (UTF-8), .xlsx or .jsonl, one child per row")
    ],
    errors: Annotated[
        Path | None, typer.Option(help="bad rows (row, column, rule); default FILE's stem.errors.csv")
    ] = None,
    state: Annotated[Path | None, typer.Option(help="how far the import got; default beside FILE")] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1, max=10_000, envvar="CPNET_IMPORT_BATCH_SIZE", help="rows published and confirmed at a time"
        ),
    ] = 100,
    max_backlog: Annotated[
        int,
        typer.Option(
            min=0,
            envvar="CPNET_IMPORT_MAX_BACKLOG",
            help="wait while more records than this are queued in the "
            "pipeline, so live reports go first; 0 never waits",
        ),
    ] = 100,
    nice: Annotated[
        int,
        typer.Option(
            min=0,
            max=19,
            envvar="CPNET_IMPORT_NICE",
            help="CPU priority below the services' (nice): on a machine they share, "
            "live reports get the CPU first",
        ),
    ] = 10,
) -> None:
    """Validate each row, put the bad ones in the error file and publish the rest to intake; an
    interrupted import resumes where it stopped, and importing a file again changes nothing. Exits 2
    when some rows went to the error file."""
    from cpnet.importer.readers import ImportFailed, ImportStopped, format_of
    from cpnet.importer.run import run_import
    from shared.health import require_kafka
    from shared.messaging.security import client_security

    settings = get_settings()
    if nice:
        os.nice(nice)
    try:
        format_of(file)
        if not file.is_file():
            _fail(f"{file}: no such file")
        asyncio.run(require_kafka(settings.kafka_bootstrap, security=client_security(settings)))
        summary = run_import(
            file,
            settings=settings,
            errors_path=errors,
            state_path=state,
            batch_size=batch_size,
            echo=typer.echo,
            max_backlog=max_backlog,
        )
    except ImportStopped as exc:
        typer.echo(f"cpnet: {exc}", err=True)
        raise typer.Exit(code=130) from None
    except ImportFailed as exc:
        _fail(str(exc))
    if summary.bad_rows:
        raise typer.Exit(code=2)


@audit_app.command("verify")
@one_line_errors
def audit_verify() -> None:
    """Recompute the hash chain and every checkpoint; name the first bad entry."""
    from services.audit.checkpoints import verify_ledger

    entries, checkpoints, problems = _audit_session(verify_ledger)
    if problems:
        first = problems[0]
        # An entry of a named chain is named by its reason ("chain topic/partition: entry N: …").
        where = "" if first.chain else f"entry {first.seq}: " if first.seq is not None else "a checkpoint: "
        typer.echo(
            f"ledger NOT intact: {where}{first.reason}"
            + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""),
            err=True,
        )
        raise typer.Exit(code=2)
    typer.echo(f"ledger intact: {entries} entries, {checkpoints} signed checkpoints verified")


@audit_app.command("checkpoint")
@one_line_errors
def audit_checkpoint() -> None:
    """Sign a checkpoint over the ledger now (if it grew since the last one)."""
    from services.audit.checkpoints import checkpoint_if_due

    made = _audit_session(lambda session, settings: checkpoint_if_due(session, settings, force=True))
    typer.echo(
        f"checkpoint over {made.size} entries, root {made.root.hex()}"
        if made
        else "no new entries since the last checkpoint"
    )


@audit_app.command("export")
@one_line_errors
def audit_export(
    out: Annotated[Path | None, typer.Option(help="write here instead of standard output")] = None,
) -> None:
    """Every signed checkpoint as JSON lines, for a witness agency to keep."""
    from services.audit.checkpoints import load_checkpoints

    checkpoints = _audit_session(lambda session, settings: load_checkpoints(session))
    text = "".join(c.to_json() + "\n" for c in checkpoints)
    if out:
        out.write_text(text)
        typer.echo(f"{len(checkpoints)} checkpoints written to {out}", err=True)
    else:
        typer.echo(text, nl=False)


def _bench(
    measure,
    rows,
    *,
    title: str,
    json_out: Path | None,
    console: bool = False,
    services: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Run one benchmark with every service answering (started here if need be, with `env` besides; or
    only `services`), then show its figures."""
    from rich.console import Console

    from bench.figures import print_table, write_json
    from bench.services import BenchFailed, services_running
    from shared.health import require_database, require_kafka
    from shared.messaging.security import client_security

    settings = get_settings()
    asyncio.run(require_kafka(settings.kafka_bootstrap, security=client_security(settings)))
    asyncio.run(require_database(settings.database_url))
    err = Console(stderr=True)
    try:
        names = [*_services(None), *(["console"] if console else [])] if services is None else services
        with services_running(settings, names, env=env) as fleet:
            err.print(fleet.limits_note)
            figures = asyncio.run(measure(settings, fleet, say=err.print))
    except (BenchFailed, TimeoutError) as exc:
        _fail(str(exc))
    print_table(title, rows(figures))
    write_json(json_out, figures)


@bench_app.command("pipeline")
@one_line_errors
def bench_pipeline(
    reports: Annotated[int, typer.Option(min=1, help="hotline reports to send")] = 5000,
    baseline: Annotated[
        bool, typer.Option(help="also raw aiokafka produce → consume of as many messages of the same sizes")
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures here as JSON")] = None,
    seed: Annotated[int, typer.Option(help="seed of the reports' randomness")] = 10,
    timeout_s: Annotated[float, typer.Option(help="give up after this many seconds")] = 3600,
    idle_window_s: Annotated[float, typer.Option(help="seconds to measure the idle transaction rate")] = 5,
) -> None:
    """N realistic hotline reports until each case has its visit plan and the ledger caught up."""
    from functools import partial

    from bench.pipeline import run_pipeline, table_rows

    _bench(
        partial(
            run_pipeline,
            reports=reports,
            baseline=baseline,
            seed=seed,
            timeout_s=timeout_s,
            idle_window_s=idle_window_s,
        ),
        table_rows,
        title=f"cpnet bench pipeline --reports {reports}",
        json_out=json_out,
    )


@bench_app.command("during-import")
@one_line_errors
def bench_during_import(
    rows: Annotated[int, typer.Option(min=1, help="children in the screening survey to import")] = 5000,
    live_rate: Annotated[float, typer.Option(min=0.1, help="live hotline reports per second meanwhile")] = 20,
    max_backlog: Annotated[
        int | None, typer.Option(min=0, help="the import's --max-backlog (default: the importer's own)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures here as JSON")] = None,
    seed: Annotated[int, typer.Option(help="seed of the survey's and the reports' randomness")] = 10,
    timeout_s: Annotated[float, typer.Option(help="give up after this many seconds")] = 3600,
    idle_s: Annotated[
        float, typer.Option(min=1, help="seconds of live reports on the idle system first, to compare")
    ] = 20,
) -> None:
    """Live hotline reports at a steady rate on the idle system, then while `cpnet import screening`
    imports a survey of N rows: red → referral.to.police in both, and their ratio."""
    from functools import partial

    from bench.during_import import run_during_import, table_rows

    _bench(
        partial(
            run_during_import,
            rows=rows,
            live_rate=live_rate,
            max_backlog=max_backlog,
            seed=seed,
            timeout_s=timeout_s,
            idle_s=idle_s,
        ),
        table_rows,
        title=f"cpnet bench during-import --rows {rows} --live-rate {live_rate:g} --idle-s {idle_s:g}",
        json_out=json_out,
    )


@bench_app.command("surge")
@one_line_errors
def bench_surge(
    burst: Annotated[int, typer.Option(min=1, help="ordinary hotline reports sent at once")] = 20000,
    emergencies: Annotated[int, typer.Option(min=2, help="emergencies sent in each phase")] = 100,
    rate: Annotated[float, typer.Option(min=0.1, help="emergencies per second")] = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures here as JSON")] = None,
    seed: Annotated[int, typer.Option(help="seed of the reports' randomness")] = 10,
    timeout_s: Annotated[float, typer.Option(help="give up after this many seconds")] = 3600,
) -> None:
    """Emergencies → referral.to.police on the idle system, then right after a burst of N ordinary
    hotline reports: p50/p95/p99 of each and their ratio, in one run."""
    from functools import partial

    from bench.surge import run_surge, table_rows

    _bench(
        partial(run_surge, burst=burst, emergencies=emergencies, rate=rate, seed=seed, timeout_s=timeout_s),
        table_rows,
        title=f"cpnet bench surge --burst {burst} --emergencies {emergencies} --rate {rate:g}",
        json_out=json_out,
    )


@bench_app.command("ledger")
@one_line_errors
def bench_ledger(
    messages: Annotated[int, typer.Option(min=100, help="messages appended in each round")] = 30000,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures here as JSON")] = None,
    seed: Annotated[int, typer.Option(help="seed of the messages' randomness")] = 10,
    timeout_s: Annotated[float, typer.Option(help="give up a round after this many seconds")] = 1800,
) -> None:
    """A backlog of N messages appended to the ledger by one audit instance, then N more by two: each
    rate and their ratio, in one run (the audit service must not be running; the rest need not)."""
    from functools import partial

    from bench.ledger import run_ledger, table_rows

    _bench(
        partial(run_ledger, messages=messages, seed=seed, timeout_s=timeout_s),
        table_rows,
        title=f"cpnet bench ledger --messages {messages}",
        json_out=json_out,
        services=[],
    )


@bench_app.command("import-resume")
@one_line_errors
def bench_import_resume(
    rows: Annotated[int, typer.Option(min=10, help="children in the survey (an XLSX workbook)")] = 5000,
    bad_share: Annotated[float, typer.Option(min=0, max=0.5, help="share of rows broken on purpose")] = 0.01,
    kill_at: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="kill -9 the import past this share")
    ] = 0.5,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures here as JSON")] = None,
    seed: Annotated[int, typer.Option(help="seed of the survey's randomness")] = 10,
    timeout_s: Annotated[float, typer.Option(help="give up after this many seconds")] = 3600,
) -> None:
    """`cpnet import screening` of an XLSX survey killed with SIGKILL part-way, resumed, imported again:
    what intake keeps, duplicates and the error file, counted."""
    from functools import partial

    from bench.import_resume import run_import_resume, table_rows

    _bench(
        partial(
            run_import_resume, rows=rows, bad_share=bad_share, kill_at=kill_at, seed=seed, timeout_s=timeout_s
        ),
        table_rows,
        title=f"cpnet bench import-resume --rows {rows}",
        json_out=json_out,
    )


@bench_app.command("worklist")
@one_line_errors
def bench_worklist(
    cases: Annotated[
        int, typer.Option(min=1, help="cases written into casework's table, deleted after")
    ] = 100_000,
    queries: Annotated[int, typer.Option(min=1, help="GET /v1/cases per kind of query")] = 50,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures here as JSON")] = None,
    seed: Annotated[int, typer.Option(help="seed of the cases' randomness")] = 10,
) -> None:
    """GET /v1/cases over N cases: filtered pages and deep pages, p50/p95/p99."""
    from functools import partial

    from bench.worklist import run_worklist, table_rows

    _bench(
        partial(run_worklist, cases=cases, queries=queries, seed=seed),
        table_rows,
        title=f"cpnet bench worklist --cases {cases}",
        json_out=json_out,
    )


@bench_app.command("board")
@one_line_errors
def bench_board(
    cases: Annotated[
        int, typer.Option(min=1, help="cases written into casework's table, deleted after")
    ] = 10_000,
    queries: Annotated[int, typer.Option(min=1, help="board pages per kind")] = 50,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures here as JSON")] = None,
    seed: Annotated[int, typer.Option(help="seed of the cases' randomness")] = 10,
) -> None:
    """The console's board over N cases, as a signed-in city supervisor: p50/p95/p99 of the page."""
    from functools import partial

    from bench.board import run_board, table_rows

    _bench(
        partial(run_board, cases=cases, queries=queries, seed=seed),
        table_rows,
        title=f"cpnet bench board --cases {cases}",
        json_out=json_out,
        console=True,
    )


@bench_app.command("indicators")
@one_line_errors
def bench_indicators(
    cases: Annotated[
        int, typer.Option(min=1, help="cases whose happenings are written into audit's table, deleted after")
    ] = 100_000,
    rounds: Annotated[int, typer.Option(min=1, help="times each bulletin is asked for")] = 3,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures here as JSON")] = None,
    seed: Annotated[int, typer.Option(help="seed of the cases' randomness")] = 10,
    deployed_s: Annotated[
        float, typer.Option(min=1, help="seconds the bulletins are asked of audit as deployed")
    ] = 90.0,
) -> None:
    """Audit's bulletin (every indicator of a node and month) over N cases across twelve months: the
    city's for each month, each county's for three: p50/p95/p99 of the answer, counted on asking and
    as deployed (audit's sweep on)."""
    from functools import partial

    from bench.indicators import COUNTED_ON_ASKING, run_indicators, table_rows

    _bench(
        partial(run_indicators, cases=cases, rounds=rounds, seed=seed, deployed_s=deployed_s),
        table_rows,
        title=f"cpnet bench indicators --cases {cases}",
        json_out=json_out,
        services=["audit"],
        # Counted on asking first (the sweep, which would count ahead of the asks timed, is timed on its
        # own); then a second audit as deployed.
        env=COUNTED_ON_ASKING,
    )


@bench_app.command("intake-http")
@one_line_errors
def bench_intake_http(
    requests: Annotated[int, typer.Option(min=1, help="POST /v1/reports per concurrency level")] = 2000,
    concurrency: Annotated[str, typer.Option(help="comma-separated concurrency levels")] = "8,32",
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures here as JSON")] = None,
    seed: Annotated[int, typer.Option(help="seed of the reports' randomness")] = 10,
    timeout_s: Annotated[
        float, typer.Option(help="give up on a level's drain after this many seconds")
    ] = 3600,
) -> None:
    """POST /v1/reports as caseworkers of the city at each concurrency: req/s and latency; first the
    highest level against intake alone, and the rate with every service as a share of it."""
    from functools import partial

    from bench.intake_http import run_intake_http, table_rows

    try:
        levels = [int(level) for level in concurrency.split(",")]
    except ValueError:
        _fail("--concurrency takes whole numbers separated by commas, e.g. 8,32")
    if any(level < 1 for level in levels):
        _fail("--concurrency levels must be at least 1")
    # Intake first, alone; the benchmark starts the others itself once it has measured it.
    others = [name for name in _services(None) if name != "intake"]
    _bench(
        partial(
            run_intake_http,
            requests=requests,
            concurrency=levels,
            seed=seed,
            timeout_s=timeout_s,
            others=others,
        ),
        table_rows,
        title=f"cpnet bench intake-http --requests {requests} --concurrency {concurrency}",
        json_out=json_out,
        services=["intake"],
    )


@app.command("run")
@one_line_errors
def run(
    stack: Annotated[
        bool, typer.Option(help="bring the local stack up first (and down after, if this started it)")
    ] = True,
    instances: Annotated[
        int,
        typer.Option(
            min=1,
            help="processes of each service (not the console), sharing its consumer groups; "
            "instance k listens on the service's port + 100*(k-1)",
        ),
    ] = 1,
) -> None:
    """Run the whole system in the foreground: the stack, migrations, every service (restarted with
    back-off if it dies). Ctrl-C stops all."""
    from cpnet.runner import run_all

    raise typer.Exit(code=run_all(get_settings(), _services(None), with_stack=stack, instances=instances))


def _services(service: str | None) -> list[str]:
    from cpnet.registry import available_services

    names = available_services()
    if service is None:
        return names
    if service not in names:
        known = ", ".join(names) or "none"
        _fail(f"unknown service {service!r} (known: {known})")
    return [service]


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
