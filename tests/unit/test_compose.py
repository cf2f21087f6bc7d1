"""docker-compose.yml and deploy/ agree with the code, checked without Docker.

No engine runs here, so the topology has to be right by construction: these tests parse
the compose file (with Compose's `${VAR:-default}` / `${VAR:?error}` interpolation, given
strong generated secrets as an operator would) and check every address, port, dependency,
command and topic name it contains against the settings, the CLI, the service packages and
the topic registry, and that it runs in production mode with no secret of its own. Each
check is a function returning a list of problems, so a deliberately broken copy can be fed
to the same function (see test_a_broken_compose_file_is_caught).
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import os
import re
import secrets
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import make_url

from cpnet.registry import SERVICE_NAMES, definition_of
from services.console.settings import ConsoleSettings
from shared.contracts.topics import TOPICS, referral_topic
from shared.contracts.vocabulary import Agency
from shared.crypto import INSECURE_DEV_LOOKUP_KEY_B64
from shared.errors import ConfigurationError
from shared.settings import INSECURE_DEV_AUTH_SECRET, Settings
from shared.token_keys import DEV_JWKS, jwks_of

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
HOST_ACCESS_FILE = ROOT / "deploy" / "compose.host-access.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DEPLOY_README = ROOT / "deploy" / "README.md"
KAFKA_DIR = ROOT / "deploy" / "kafka"
SERVICES_DIR = ROOT / "services"

Compose = dict[str, Any]

# Ports the images listen on unless configured otherwise.
POSTGRES_DEFAULT_PORT = 5432
JAEGER_OTLP_GRPC_PORT = 4317
JAEGER_OTLP_HTTP_PORT = 4318  # cpnet exports with the OTLP/HTTP (protobuf) exporter
DEPENDS_ON_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# --- reading a compose file ------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str, env: dict[str, str], missing: list[str] | None = None) -> str:
    """Compose's variable substitution: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}.
    A required variable that is unset raises, or is added to `missing` when that is given."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        current = env.get(name)
        if op == ":-":
            return current or arg
        if op == "-":
            return arg if current is None else current
        if op in (":?", "?") and (current is None or (op == ":?" and not current)):
            if missing is None:
                raise ValueError(f"required variable {name} is not set: {arg}")
            missing.append(name)
        return current or ""

    return _VARIABLE.sub(substitute, value)


def _interpolate_tree(node: Any, env: dict[str, str], missing: list[str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env, missing)
    if isinstance(node, list):
        return [_interpolate_tree(item, env, missing) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env, missing) for key, value in node.items()}
    return node


def load_compose(text: str, env: dict[str, str] | None = None) -> Compose:
    """The compose model as `docker compose config` would see it in this environment; like
    Compose, it refuses when a required variable is unset, naming every one."""
    missing: list[str] = []
    compose = _interpolate_tree(yaml.safe_load(text), env or {}, missing)
    if missing:
        raise ValueError("required variables are not set: " + ", ".join(sorted(set(missing))))
    return compose


ISSUER_KEY = Ed25519PrivateKey.generate()
# What the compose file serves: every service, and the console.
SERVED = (*SERVICE_NAMES, "console")


def generated_secrets() -> dict[str, str]:
    """What an operator puts in `.env`, generated as deploy/README.md says."""

    def key() -> str:
        return base64.b64encode(os.urandom(32)).decode()

    return {
        # The public half of the issuer's key (`cpnet token jwks`); the private half stays with the issuer.
        "CPNET_AUTH_JWKS": json.dumps(jwks_of(ISSUER_KEY)),
        "CPNET_AUTH_SIGNING_KEY": base64.b64encode(ISSUER_KEY.private_bytes_raw()).decode(),
        "CPNET_ENCRYPTION_KEYS": f"k1:{key()}",
        "CPNET_ENCRYPTION_ACTIVE_KEY": "k1",
        "CPNET_LOOKUP_KEY": key(),
        "CPNET_AUDIT_SIGNING_KEY": key(),
        "CPNET_DB_PASSWORD": secrets.token_urlsafe(32),
    }


COMPOSE_TEXT = COMPOSE_FILE.read_text()
OPERATOR_ENV = generated_secrets()
COMPOSE = load_compose(COMPOSE_TEXT, OPERATOR_ENV)
# The variables that hold a secret; none may have a default in the compose file.
SECRET_VARIABLES = frozenset(OPERATOR_ENV) - {"CPNET_ENCRYPTION_ACTIVE_KEY"}
BIND_ADDRESS_DEFAULT = "${CPNET_BIND_ADDRESS:-127.0.0.1}"


def services_of(compose: Compose) -> dict[str, dict[str, Any]]:
    return compose.get("services") or {}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return dict(pairs)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def port_mappings(service: dict[str, Any]) -> list[tuple[int | None, int]]:
    """(host port or None, container port) of every `ports` entry, short or long syntax."""
    mappings = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published = entry.get("published")
            mappings.append((int(published) if published else None, int(entry["target"])))
            continue
        parts = str(entry).split("/", 1)[0].split(":")
        if len(parts) == 1:
            mappings.append((None, int(parts[0])))
        else:  # [ip:]host:container
            mappings.append((int(parts[-2]) if parts[-2] else None, int(parts[-1])))
    return mappings


def host_addresses(service: dict[str, Any]) -> list[str | None]:
    """The host address each `ports` entry binds (None: every interface)."""
    addresses: list[str | None] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            addresses.append(entry.get("host_ip") or None)
            continue
        parts = str(entry).split("/", 1)[0].rsplit(":", 2)
        addresses.append(parts[0] or None if len(parts) == 3 else None)
    return addresses


def container_ports(service: dict[str, Any]) -> set[int]:
    """Ports the container declares: `expose` plus the container side of `ports`."""
    exposed = {int(str(port).split("/", 1)[0]) for port in service.get("expose") or []}
    return exposed | {container for _, container in port_mappings(service)}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def healthcheck_text(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test") or ""
    return " ".join(test) if isinstance(test, list) else str(test)


def replicas(service: dict[str, Any]) -> Any:
    """`deploy.replicas` as written (after interpolation, a string), or None when not set."""
    return (service.get("deploy") or {}).get("replicas")


def is_replicated(service: dict[str, Any]) -> bool:
    """Its instance count is set (`deploy.replicas`), so it may run several containers at once."""
    return replicas(service) is not None


def has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable") and check.get("test") != ["NONE"]


def image(service: dict[str, Any]) -> str:
    return str(service.get("image") or "")


def is_kafka(service: dict[str, Any]) -> bool:
    return image(service).startswith("apache/kafka:")


def is_postgres(service: dict[str, Any]) -> bool:
    return image(service).split(":", 1)[0] == "postgres"


def is_jaeger(service: dict[str, Any]) -> bool:
    return image(service).startswith("jaegertracing/")


def is_cpnet(service: dict[str, Any]) -> bool:
    """Built from our Dockerfile."""
    build = service.get("build")
    if not build:
        return False
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    context = build if isinstance(build, str) else build.get("context", ".")
    return (ROOT / context / dockerfile).resolve() == DOCKERFILE.resolve()


def cpnet_services(compose: Compose) -> dict[str, str]:
    """Container name → cpnet service it serves (`cpnet serve <service>`)."""
    served = {}
    for name, service in services_of(compose).items():
        cmd = command(service)
        if is_cpnet(service) and cmd[:1] == ["serve"] and len(cmd) >= 2:
            served[name] = cmd[1]
    return served


def _listeners(value: str) -> list[tuple[str, str, int]]:
    """'NAME://host:port,...' → [(NAME, host, port)]."""
    found = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        match = re.fullmatch(r"([A-Za-z0-9_]+)://(.*):(\d+)", item)
        if match is None:
            raise ValueError(f"unreadable Kafka listener {item!r}")
        found.append((match[1], match[2], int(match[3])))
    return found


# --- the checks ------------------------------------------------------------------------------


def check_kafka_bootstrap(compose: Compose) -> list[str]:
    """Every host:port of CPNET_KAFKA_BOOTSTRAP is a Kafka service advertising and binding a
    client (non-controller) listener on that port."""
    problems = []
    services = services_of(compose)
    for name, service in services.items():
        bootstrap = environment(service).get("CPNET_KAFKA_BOOTSTRAP")
        if bootstrap is None:
            continue
        for address in filter(None, (a.strip() for a in bootstrap.split(","))):
            host, _, port_text = address.rpartition(":")
            where = f"{name}: CPNET_KAFKA_BOOTSTRAP {address!r}"
            if not port_text.isdigit():
                problems.append(f"{where} has no port")
                continue
            port = int(port_text)
            broker = services.get(host)
            if broker is None or not is_kafka(broker):
                problems.append(f"{where}: {host!r} is not a Kafka service of this compose file")
                continue
            env = environment(broker)
            controllers = set(env.get("KAFKA_CONTROLLER_LISTENER_NAMES", "").split(","))
            advertised = [
                lst
                for lst in _listeners(env.get("KAFKA_ADVERTISED_LISTENERS", ""))
                if lst[1:] == (host, port)
            ]
            if not advertised:
                problems.append(f"{where}: {host} advertises no listener {host}:{port}")
                continue
            listener = advertised[0][0]
            bound = {lname: lport for lname, _, lport in _listeners(env.get("KAFKA_LISTENERS", ""))}
            if bound.get(listener) != port:
                problems.append(
                    f"{where}: listener {listener} is bound to port {bound.get(listener)}, not {port}"
                )
            if listener in controllers:
                problems.append(f"{where}: {listener} is the controller listener, not a client one")
    return problems


def check_kafka_broker(compose: Compose) -> list[str]:
    """The broker is a consistent single-node KRaft combined node that only has the
    registry's topics and whose host listener is reachable from the host."""
    problems = []
    services = services_of(compose)
    kafkas = {name: service for name, service in services.items() if is_kafka(service)}
    if not kafkas:
        return ["no Kafka service (image apache/kafka) in the compose file"]
    for name, service in kafkas.items():
        env = environment(service)
        roles = set(env.get("KAFKA_PROCESS_ROLES", "").split(","))
        if roles != {"broker", "controller"}:
            problems.append(f"{name}: KAFKA_PROCESS_ROLES is {sorted(roles)}, expected broker,controller")
        if env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "").lower() != "false":
            problems.append(
                f"{name}: KAFKA_AUTO_CREATE_TOPICS_ENABLE must be false (topics come from the registry)"
            )
        if not env.get("CLUSTER_ID"):
            problems.append(f"{name}: CLUSTER_ID is required in KRaft mode")
        bound = {lname: lport for lname, _, lport in _listeners(env.get("KAFKA_LISTENERS", ""))}
        controllers = [c for c in env.get("KAFKA_CONTROLLER_LISTENER_NAMES", "").split(",") if c]
        if not controllers or any(c not in bound for c in controllers):
            problems.append(f"{name}: controller listener(s) {controllers} not all in KAFKA_LISTENERS")
        if env.get("KAFKA_INTER_BROKER_LISTENER_NAME") not in bound:
            problems.append(f"{name}: KAFKA_INTER_BROKER_LISTENER_NAME is not a listener")
        for voter in filter(None, env.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "").split(",")):
            match = re.fullmatch(r"(\d+)@([^:]+):(\d+)", voter.strip())
            if match is None:
                problems.append(f"{name}: unreadable quorum voter {voter!r}")
                continue
            node, host, port = match[1], match[2], int(match[3])
            if len(kafkas) == 1 and node != env.get("KAFKA_NODE_ID"):
                problems.append(
                    f"{name}: quorum voter {voter} is not KAFKA_NODE_ID {env.get('KAFKA_NODE_ID')}"
                )
            if host not in kafkas and host != service.get("hostname"):
                problems.append(f"{name}: quorum voter host {host!r} is not a Kafka service")
            if port not in {bound.get(c) for c in controllers}:
                problems.append(f"{name}: quorum voter port {port} is not the controller listener's port")
        if not env.get("KAFKA_CONTROLLER_QUORUM_VOTERS"):
            problems.append(f"{name}: KAFKA_CONTROLLER_QUORUM_VOTERS is not set")
        for key, value in env.items():
            if key.endswith(("REPLICATION_FACTOR", "MIN_ISR", "MIN_INSYNC_REPLICAS")) and int(value) > len(
                kafkas
            ):
                problems.append(f"{name}: {key}={value} exceeds the {len(kafkas)} broker(s) of this file")
        published = set(port_mappings(service))
        for lname, host, port in _listeners(env.get("KAFKA_ADVERTISED_LISTENERS", "")):
            if host in services or host == service.get("hostname"):
                continue  # in-network listener, reached through the compose network
            if (port, bound.get(lname)) not in published:
                problems.append(
                    f"{name}: listener {lname} advertises {host}:{port} but port {port} is not "
                    f"published to its bound port {bound.get(lname)}"
                )
    return problems


def check_database_url(compose: Compose) -> list[str]:
    """CPNET_DATABASE_URL names the PostgreSQL service, its port, database, user and password."""
    problems = []
    services = services_of(compose)
    for name, service in services.items():
        raw = environment(service).get("CPNET_DATABASE_URL")
        if raw is None:
            continue
        url = make_url(raw)
        where = f"{name}: CPNET_DATABASE_URL"
        if url.drivername != "postgresql+asyncpg":
            problems.append(f"{where} uses driver {url.drivername!r}, expected postgresql+asyncpg")
        postgres = services.get(url.host or "")
        if postgres is None or not is_postgres(postgres):
            problems.append(f"{where}: host {url.host!r} is not a PostgreSQL service of this compose file")
            continue
        env = environment(postgres)
        pg_port = int(env.get("PGPORT", POSTGRES_DEFAULT_PORT))
        user = env.get("POSTGRES_USER", "postgres")
        expected = {
            "port": (url.port or POSTGRES_DEFAULT_PORT, pg_port),
            "database": (url.database, env.get("POSTGRES_DB", user)),
            "user": (url.username, user),
            "password": (url.password, env.get("POSTGRES_PASSWORD")),
        }
        for what, (actual, wanted) in expected.items():
            if actual != wanted:
                shown = ("***", "***") if what == "password" else (actual, wanted)
                problems.append(f"{where}: {what} is {shown[0]!r} but {url.host} has {shown[1]!r}")
    return problems


def check_postgres_service(compose: Compose) -> list[str]:
    """PostgreSQL's health check asks the server and database the services use, over TCP."""
    problems = []
    postgreses = {n: s for n, s in services_of(compose).items() if is_postgres(s)}
    if not postgreses:
        return ["no PostgreSQL service (image postgres) in the compose file"]
    for name, service in postgreses.items():
        env = environment(service)
        user = env.get("POSTGRES_USER", "postgres")
        check = healthcheck_text(service)
        args = dict(re.findall(r"(-[hpUd])\s+(\S+)", check))
        if "pg_isready" not in check:
            problems.append(f"{name}: health check does not use pg_isready")
            continue
        wanted = {
            "-U": user,
            "-d": env.get("POSTGRES_DB", user),
            "-p": env.get("PGPORT", str(POSTGRES_DEFAULT_PORT)),
        }
        for flag, value in wanted.items():
            if args.get(flag, value) != value:
                problems.append(f"{name}: pg_isready {flag} {args[flag]} but the server has {value}")
        if args.get("-h") not in ("127.0.0.1", "localhost"):
            problems.append(
                f"{name}: pg_isready must use TCP (-h 127.0.0.1): the init server listens on the socket only"
            )
        if not env.get("POSTGRES_PASSWORD"):
            problems.append(f"{name}: POSTGRES_PASSWORD is empty")
    return problems


def _jaeger_otlp_http_port(service: dict[str, Any]) -> int:
    """The OTLP/HTTP receiver port, as overridden by `--set receivers.otlp.protocols.http.endpoint=`."""
    for part in command(service):
        if part.startswith("receivers.otlp.protocols.http.endpoint="):
            return int(part.rsplit(":", 1)[1])
    return JAEGER_OTLP_HTTP_PORT


def check_otlp_endpoint(compose: Compose) -> list[str]:
    """CPNET_OTLP_ENDPOINT is http://<jaeger service>:<its OTLP/HTTP port>/v1/traces."""
    problems = []
    services = services_of(compose)
    for name, service in services.items():
        endpoint = environment(service).get("CPNET_OTLP_ENDPOINT")
        if not endpoint:
            continue
        where = f"{name}: CPNET_OTLP_ENDPOINT {endpoint!r}"
        url = urlsplit(endpoint)
        if url.scheme != "http":
            problems.append(f"{where}: scheme must be http inside the compose network")
        jaeger = services.get(url.hostname or "")
        if jaeger is None or not is_jaeger(jaeger):
            problems.append(f"{where}: host {url.hostname!r} is not a Jaeger service of this compose file")
            continue
        http_port = _jaeger_otlp_http_port(jaeger)
        if url.port != http_port:
            kind = "OTLP/gRPC" if url.port == JAEGER_OTLP_GRPC_PORT else "not an OTLP port"
            problems.append(f"{where}: port {url.port} is {kind}; the OTLP/HTTP exporter needs {http_port}")
        elif http_port not in container_ports(jaeger):
            problems.append(f"{where}: {url.hostname} does not expose its OTLP/HTTP port {http_port}")
        if url.path != "/v1/traces":
            problems.append(f"{where}: path must be /v1/traces (the exporter posts to the full URL)")
    return problems


def service_port(service_name: str, env: dict[str, str]) -> int:
    field = f"{service_name}_port"
    return int(env.get(f"CPNET_{service_name.upper()}_PORT", Settings.model_fields[field].default))


def check_service_ports(compose: Compose) -> list[str]:
    """Each service listens on all interfaces on CPNET_<NAME>_PORT (or the Settings default);
    its health check probes /healthz on that port and that port is published."""
    problems = []
    services = services_of(compose)
    host_ports: dict[int, str] = {}
    for name, service in services.items():
        for host_port, _ in port_mappings(service):
            if host_port is not None:
                if host_port in host_ports:
                    problems.append(
                        f"host port {host_port} is published by both {host_ports[host_port]} and {name}"
                    )
                host_ports[host_port] = name
    for name, served in cpnet_services(compose).items():
        service = services[name]
        env = environment(service)
        if served not in SERVICE_NAMES:
            continue  # reported by check_service_containers
        port = service_port(served, env)
        if env.get("CPNET_HTTP_HOST") != "0.0.0.0":
            problems.append(
                f"{name}: CPNET_HTTP_HOST must be 0.0.0.0 in a container, is {env.get('CPNET_HTTP_HOST')!r}"
            )
        probe = r"https?://(?:127\.0\.0\.1|localhost):(\d+)/healthz"
        probed = [int(p) for p in re.findall(probe, healthcheck_text(service))]
        if probed != [port]:
            problems.append(
                f"{name}: health check probes /healthz on {probed or 'no port'}, the service "
                f"listens on {port}"
            )
        if is_replicated(service):
            continue  # its instances publish no port (check_replicated_containers)
        published = [container for _, container in port_mappings(service)]
        if port not in published:
            problems.append(f"{name}: port {port} is not published (published: {published})")
    return problems


def check_replicated_containers(compose: Compose) -> list[str]:
    """A container whose instance count is set may run several times over: the count is a whole
    number, and it publishes no port (the instances' host ports would collide) and has no fixed
    container_name (which allows one container only)."""
    problems = []
    for name, service in services_of(compose).items():
        if not is_replicated(service):
            continue
        if not re.fullmatch(r"\d+", str(replicas(service))):
            problems.append(f"{name}: deploy.replicas {replicas(service)!r} is not a whole number")
        if service.get("ports"):
            problems.append(
                f"{name}: publishes {service['ports']} but runs deploy.replicas instances: "
                "their host ports would collide; only its single container publishes"
            )
        if service.get("container_name"):
            problems.append(
                f"{name}: container_name {service['container_name']!r} allows one instance, "
                "but it runs deploy.replicas"
            )
    return problems


def extra_instances_variable(service_name: str) -> str:
    return f"CPNET_{service_name.upper()}_EXTRA_INSTANCES"


def check_extra_instances(raw: Compose) -> list[str]:
    """On the file as written: beside its one container publishing its port, each consumer service
    has one replicated container that is the same in all but `ports` (none) and `deploy` (as
    many instances as CPNET_<SERVICE>_EXTRA_INSTANCES, default 0): the same command and
    environment, so the same consumer groups. The console runs once."""
    problems = []
    services = services_of(raw)
    served = cpnet_services(raw)
    for service_name in SERVED:
        single = [n for n, s in served.items() if s == service_name and not is_replicated(services[n])]
        extra = [n for n, s in served.items() if s == service_name and is_replicated(services[n])]
        if service_name not in SERVICE_NAMES:
            if extra:
                problems.append(f"{service_name} runs once, but {extra} run it under deploy.replicas")
            continue
        if len(single) != 1 or len(extra) != 1:
            problems.append(
                f"{service_name} has {single} as its single container and {extra} as its extra "
                "instances, expected one of each"
            )
            continue
        (primary,), (more,) = single, extra
        wanted = f"${{{extra_instances_variable(service_name)}:-0}}"
        if replicas(services[more]) != wanted:
            problems.append(f"{more}: deploy.replicas is {replicas(services[more])!r}, expected {wanted!r}")
        if services[more].get("ports"):
            problems.append(f"{more}: publishes {services[more]['ports']}; only {primary} publishes")
        ignored = {"ports", "deploy"}
        differs = sorted(
            key
            for key in set(services[primary]) | set(services[more])
            if key not in ignored and services[primary].get(key) != services[more].get(key)
        )
        if differs:
            problems.append(
                f"{more} differs from {primary} in {differs}: its instances would not be {primary}"
            )
    return problems


def check_depends_on(compose: Compose) -> list[str]:
    """Every depends_on names an existing service with a condition it can meet, without cycles."""
    problems = []
    services = services_of(compose)
    for name, service in services.items():
        for dep, condition in depends_on(service).items():
            if dep not in services:
                problems.append(f"{name}: depends_on {dep!r}, which is not a service")
                continue
            if condition not in DEPENDS_ON_CONDITIONS:
                problems.append(f"{name}: depends_on {dep} with unknown condition {condition!r}")
            if condition == "service_healthy" and not has_healthcheck(services[dep]):
                problems.append(f"{name}: waits for {dep} to be healthy but {dep} has no health check")
            if (
                condition == "service_completed_successfully"
                and str(services[dep].get("restart", "no")) != "no"
            ):
                problems.append(
                    f"{name}: waits for {dep} to complete but {dep} restarts ({services[dep]['restart']})"
                )

    def visit(node: str, path: tuple[str, ...]) -> None:
        if node in path:
            problems.append("depends_on cycle: " + " -> ".join((*path, node)))
            return
        for dep in depends_on(services.get(node, {})):
            if dep in services:
                visit(dep, (*path, node))

    for name in services:
        visit(name, ())
    return sorted(set(problems))


def check_services_wait_for_infrastructure(compose: Compose) -> list[str]:
    """A service starts after its Kafka and PostgreSQL are healthy and the topics and
    migrations jobs completed."""
    problems = []
    services = services_of(compose)
    jobs = {
        name: tuple(command(service))
        for name, service in services.items()
        if is_cpnet(service) and tuple(command(service)) in {("topics", "create"), ("db", "upgrade")}
    }
    for wanted in (("topics", "create"), ("db", "upgrade")):
        if wanted not in jobs.values():
            problems.append(f"no one-shot service runs `cpnet {' '.join(wanted)}`")
    for name in cpnet_services(compose):
        env = environment(services[name])
        deps = depends_on(services[name])
        needed = dict.fromkeys(jobs, "service_completed_successfully")
        for address in env.get("CPNET_KAFKA_BOOTSTRAP", "").split(","):
            needed[address.rpartition(":")[0]] = "service_healthy"
        if env.get("CPNET_DATABASE_URL"):
            needed[make_url(env["CPNET_DATABASE_URL"]).host or ""] = "service_healthy"
        for dep, condition in needed.items():
            if deps.get(dep) != condition:
                problems.append(f"{name}: must depend on {dep} with {condition}, has {deps.get(dep)}")
    return problems


def check_cpnet_environment(compose: Compose) -> list[str]:
    """Every cpnet container is told where Kafka, PostgreSQL and Jaeger are (the Settings
    defaults point at 127.0.0.1, which inside a container is the container itself) and logs JSON."""
    problems = []
    for name, service in services_of(compose).items():
        if not is_cpnet(service):
            continue
        env = environment(service)
        for key in ("CPNET_KAFKA_BOOTSTRAP", "CPNET_DATABASE_URL", "CPNET_OTLP_ENDPOINT"):
            if not env.get(key):
                problems.append(f"{name}: {key} is not set")
        if env.get("CPNET_LOG_FORMAT") != "json":
            problems.append(f"{name}: CPNET_LOG_FORMAT must be json, is {env.get('CPNET_LOG_FORMAT')!r}")
    return problems


def check_production_mode(compose: Compose) -> list[str]:
    """Every cpnet container runs in production mode, so weak or development secrets stop it."""
    return [
        f"{name}: CPNET_ENVIRONMENT is {environment(service).get('CPNET_ENVIRONMENT')!r}, must be production"
        for name, service in services_of(compose).items()
        if is_cpnet(service) and environment(service).get("CPNET_ENVIRONMENT") != "production"
    ]


_SECRET_SETTING = re.compile(r"SECRET|PASSWORD|_KEYS?$|DATABASE_URL")


def check_secrets_have_no_default(raw: Compose) -> list[str]:
    """On the file as written (before interpolation): every variable that holds a secret is
    required (`${VAR:?…}`), never given a default, and every secret-looking setting of any
    container takes its value from such a variable rather than a literal."""
    problems = []
    for match in _VARIABLE.finditer(yaml.safe_dump(raw)):
        name = match["braced"] or match["bare"]
        if name in SECRET_VARIABLES and match["op"] not in (":?", "?"):
            problems.append(
                f"${{{name}}} is used with {match['op'] or 'no'} default; it must be ${{{name}:?…}}"
            )
    for name, service in services_of(raw).items():
        for key, value in environment(service).items():
            if not _SECRET_SETTING.search(key):
                continue
            required = [m["braced"] for m in _VARIABLE.finditer(value) if m["op"] in (":?", "?")]
            if not required:
                problems.append(f"{name}: {key} is not taken from a required variable")
    return sorted(set(problems))


def check_published_addresses(raw: Compose) -> list[str]:
    """On the file as written: every published port binds the bind-address variable
    (defaulting to loopback), and PostgreSQL and Kafka publish nothing."""
    problems = []
    for name, service in services_of(raw).items():
        if (is_postgres(service) or is_kafka(service)) and service.get("ports"):
            problems.append(
                f"{name}: publishes {service['ports']}; PostgreSQL and Kafka are published only "
                f"by {HOST_ACCESS_FILE.relative_to(ROOT)}"
            )
            continue
        for entry in service.get("ports") or []:
            if not str(entry).startswith(BIND_ADDRESS_DEFAULT + ":"):
                problems.append(f"{name}: port {entry!r} does not bind {BIND_ADDRESS_DEFAULT}")
    return problems


def check_private_plaintext_kafka(compose: Compose) -> list[str]:
    """A container that declares its PLAINTEXT broker private (the compose departure from
    SASL_SSL) is right: the broker is only on internal networks and publishes no port."""
    problems = []
    services = services_of(compose)
    networks = compose.get("networks") or {}
    for name, service in services.items():
        env = environment(service)
        if not is_cpnet(service) or env.get("CPNET_KAFKA_PLAINTEXT_PRIVATE_NETWORK", "").lower() != "true":
            continue
        for host in {
            address.rpartition(":")[0] for address in env.get("CPNET_KAFKA_BOOTSTRAP", "").split(",")
        }:
            broker = services.get(host)
            if broker is None:
                continue  # reported by check_kafka_bootstrap
            joined = broker.get("networks") or ["default"]
            public = [net for net in joined if not (networks.get(net) or {}).get("internal")]
            if public:
                problems.append(
                    f"{name}: declares Kafka private, but {host} is on the non-internal network(s) {public}"
                )
            if broker.get("ports"):
                problems.append(f"{name}: declares Kafka private, but {host} publishes {broker['ports']}")
    return sorted(set(problems))


def check_service_containers(compose: Compose, services_dir: Path = SERVICES_DIR) -> list[str]:
    """The served services are cpnet services, and every service package has one container."""
    problems = []
    served = cpnet_services(compose)
    for name, service in served.items():
        if service not in SERVED:
            problems.append(
                f"{name}: serves {service!r}, not one of cpnet.registry.SERVICE_NAMES or the console"
            )
    packages = sorted(p.parent.name for p in services_dir.glob("*/__init__.py"))
    for package in packages:
        containers = [
            name
            for name, service in served.items()
            if service == package and not is_replicated(services_of(compose)[name])
        ]
        if len(containers) != 1:
            problems.append(
                f"services/{package} is served by {len(containers)} containers ({containers}), expected 1 "
                "(besides its replicated extra instances)"
            )
    return problems


def check_cli_commands(compose: Compose) -> list[str]:
    """Every cpnet container's command is a command of the `cpnet` CLI that parses."""
    from cpnet.cli import app

    problems = []
    root = typer.main.get_command(app)
    is_group = lambda cmd: hasattr(cmd, "list_commands")  # noqa: E731 - typer may vendor click
    for name, service in services_of(compose).items():
        if not is_cpnet(service):
            continue
        args = command(service)
        current, path = root, ["cpnet"]
        while is_group(current) and args:
            sub = current.get_command(current.make_context("cpnet", [], resilient_parsing=True), args[0])
            if sub is None:
                break
            current, path, args = sub, [*path, args[0]], args[1:]
        if is_group(current):
            problems.append(f"{name}: `{' '.join(command(service))}` is not a cpnet command")
            continue
        try:
            current.make_context(" ".join(path), list(args))
        except Exception as exc:  # noqa: BLE001 - the CLI library's usage errors
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            problems.append(f"{name}: `{' '.join(command(service))}` does not parse: {message}")
        if path[1:] == ["serve"] and args and args[0] not in SERVED:
            problems.append(f"{name}: serves unknown service {args[0]!r}")
    return problems


def check_builds(compose: Compose) -> list[str]:
    """The build context and Dockerfile of every `build` exist."""
    problems = []
    for name, service in services_of(compose).items():
        build = service.get("build")
        if not build:
            continue
        context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        if not context.is_dir():
            problems.append(f"{name}: build context {context.relative_to(ROOT)} does not exist")
        elif not (context / dockerfile).is_file():
            problems.append(
                f"{name}: Dockerfile {dockerfile} does not exist in {context.relative_to(ROOT) or '.'}"
            )
    return problems


def check_dockerfile(text: str) -> list[str]:
    """The image: Python 3.11 slim, locked dependencies with hashes, project without deps,
    non-root, `cpnet` entrypoint, every service port exposed."""
    problems = []
    joined = re.sub(r"\\\n", " ", text)  # continuation lines
    instructions = [
        line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    first = lambda keyword: [i for i in instructions if i.upper().startswith(keyword + " ")]  # noqa: E731
    if not any(i.split()[1] == "python:3.11-slim" for i in first("FROM")):
        problems.append("the image is not based on python:3.11-slim")
    users = first("USER")
    if not users or users[-1].split()[1].split(":")[0] in ("root", "0"):
        problems.append("the image runs as root (no USER, or USER root last)")
    if first("ENTRYPOINT") != ['ENTRYPOINT ["cpnet"]']:
        problems.append(f'ENTRYPOINT must be ["cpnet"], is {first("ENTRYPOINT")}')
    runs = " ".join(first("RUN"))
    if not re.search(r"pip install (--\S+ )*--require-hashes (--\S+ )*-r requirements\.runtime\.lock", runs):
        problems.append("requirements.runtime.lock is not installed with --require-hashes")
    if "pip install --no-deps --no-build-isolation ." not in runs:
        problems.append(
            "the project is not installed with --no-deps --no-build-isolation (the locked backend)"
        )
    exposed = {int(p) for i in first("EXPOSE") for p in i.split()[1:]}
    for service in SERVICE_NAMES:
        port = Settings.model_fields[f"{service}_port"].default
        if port not in exposed:
            problems.append(f"port {port} ({service}) is not EXPOSEd")
    return problems


_TOPIC_NAMESPACES = sorted({name.split(".", 1)[0] for name in TOPICS})
_TOPIC_LIKE = re.compile(
    r"(?<![\w.$/-])(?:" + "|".join(map(re.escape, _TOPIC_NAMESPACES)) + r")(?:\.[a-z0-9_]+)+"
)


def check_topic_names(texts: dict[str, str]) -> list[str]:
    """Every topic name written in these files exists in the registry. A name followed by a
    placeholder (`referral.to.<agency>`, `referral.to.${agency}`) must be a registry prefix."""
    problems = []
    for label, text in texts.items():
        for match in _TOPIC_LIKE.finditer(text):
            token, rest = match[0], text[match.end() : match.end() + 2]
            if len(rest) == 2 and rest[0] == "." and rest[1] in "<{$*":
                if not any(name.startswith(token + ".") for name in TOPICS):
                    problems.append(f"{label}: no topic starts with {token + '.'!r}")
            elif token not in TOPICS:
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{label}:{line}: topic {token!r} is not in shared.contracts.topics.TOPICS")
    return problems


def checked_texts() -> dict[str, str]:
    files = [COMPOSE_FILE, DEPLOY_README, *sorted(p for p in KAFKA_DIR.iterdir() if p.is_file())]
    return {str(path.relative_to(ROOT)): path.read_text() for path in files}


COMPOSE_CHECKS: dict[str, Callable[[Compose], list[str]]] = {
    "kafka_bootstrap": check_kafka_bootstrap,
    "kafka_broker": check_kafka_broker,
    "database_url": check_database_url,
    "postgres_service": check_postgres_service,
    "otlp_endpoint": check_otlp_endpoint,
    "service_ports": check_service_ports,
    "depends_on": check_depends_on,
    "wait_for_infrastructure": check_services_wait_for_infrastructure,
    "cpnet_environment": check_cpnet_environment,
    "production_mode": check_production_mode,
    "private_plaintext_kafka": check_private_plaintext_kafka,
    "service_containers": check_service_containers,
    "cli_commands": check_cli_commands,
    "builds": check_builds,
    "replicated_containers": check_replicated_containers,
    "topic_names": lambda compose: check_topic_names({"compose": yaml.safe_dump(compose)}),
}


def _report(problems: list[str]) -> str:
    return "\n  " + "\n  ".join(problems)


# --- the compose file ------------------------------------------------------------------------


def test_the_compose_file_has_the_expected_containers():
    expected = {
        "kafka",
        "postgres",
        "jaeger",
        "topics",
        "migrate",
        "intake",
        "assessment",
        "referral",
        "followup",
    }
    missing = expected - set(services_of(COMPOSE))
    assert not missing, f"docker-compose.yml lacks the containers {sorted(missing)}"


def test_kafka_bootstrap_points_at_a_kafka_client_listener():
    problems = check_kafka_bootstrap(COMPOSE)
    assert not problems, "CPNET_KAFKA_BOOTSTRAP does not match the Kafka service:" + _report(problems)


def test_kafka_is_a_consistent_single_node_kraft_broker():
    problems = check_kafka_broker(COMPOSE)
    assert not problems, "the Kafka service is misconfigured:" + _report(problems)


def test_database_url_points_at_the_postgres_service():
    problems = check_database_url(COMPOSE)
    assert not problems, "CPNET_DATABASE_URL does not match the PostgreSQL service:" + _report(problems)


def test_postgres_health_check_asks_the_right_server():
    problems = check_postgres_service(COMPOSE)
    assert not problems, "the PostgreSQL service is misconfigured:" + _report(problems)


def test_otlp_endpoint_points_at_jaegers_otlp_http_port():
    problems = check_otlp_endpoint(COMPOSE)
    assert not problems, "CPNET_OTLP_ENDPOINT does not match the Jaeger service:" + _report(problems)


def test_each_service_probes_and_publishes_its_own_port():
    problems = check_service_ports(COMPOSE)
    assert not problems, "service ports, health checks and published ports disagree:" + _report(problems)


def test_every_depends_on_names_an_existing_service():
    problems = check_depends_on(COMPOSE)
    assert not problems, "depends_on is wrong:" + _report(problems)


def test_services_wait_for_kafka_postgres_topics_and_migrations():
    problems = check_services_wait_for_infrastructure(COMPOSE)
    assert not problems, "a service could start before its infrastructure is ready:" + _report(problems)


def test_every_cpnet_container_is_configured_for_the_compose_network():
    problems = check_cpnet_environment(COMPOSE)
    assert not problems, "a cpnet container would look for its infrastructure in the wrong place:" + _report(
        problems
    )


def test_every_service_package_has_exactly_one_container():
    problems = check_service_containers(COMPOSE)
    assert not problems, "containers and service packages disagree:" + _report(problems)


def test_every_consumer_service_can_run_more_instances_and_the_console_runs_once():
    problems = check_extra_instances(RAW_COMPOSE)
    assert not problems, "extra instances of a service are wrong:" + _report(problems)
    problems = check_replicated_containers(COMPOSE)
    assert not problems, "a replicated container would collide:" + _report(problems)
    assert {
        name: replicas(service) for name, service in services_of(COMPOSE).items() if replicas(service)
    } == {f"{name}-extra": "0" for name in SERVICE_NAMES}, "by default each service runs once"


def test_extra_instances_are_set_per_service_and_publish_no_port():
    more = {extra_instances_variable(name): str(n) for n, name in enumerate(SERVICE_NAMES, start=2)}
    scaled = load_compose(COMPOSE_TEXT, {**OPERATOR_ENV, **more})
    assert {name: replicas(s) for name, s in services_of(scaled).items() if is_replicated(s)} == {
        f"{name}-extra": str(n) for n, name in enumerate(SERVICE_NAMES, start=2)
    }
    problems = [f"{label}: {p}" for label, check in COMPOSE_CHECKS.items() for p in check(scaled)]
    assert not problems, "the compose file breaks with extra instances:" + _report(problems)

    def host_ports(compose: Compose) -> dict[str, list[tuple[int | None, int]]]:
        return {name: port_mappings(s) for name, s in services_of(compose).items() if port_mappings(s)}

    assert host_ports(scaled) == host_ports(COMPOSE), "extra instances publish nothing"
    one = load_compose(COMPOSE_TEXT, {**OPERATOR_ENV, "CPNET_AUDIT_EXTRA_INSTANCES": "1"})
    assert {name: replicas(s) for name, s in services_of(one).items() if replicas(s) not in (None, "0")} == {
        "audit-extra": "1"
    }


def test_every_container_command_is_a_cpnet_cli_command():
    problems = check_cli_commands(COMPOSE)
    assert not problems, "a container runs a command the cpnet CLI does not have:" + _report(problems)


def test_every_build_refers_to_an_existing_dockerfile():
    problems = check_builds(COMPOSE)
    assert not problems, "a build refers to a missing context or Dockerfile:" + _report(problems)


def test_the_dockerfile_builds_a_locked_non_root_cpnet_image():
    problems = check_dockerfile(DOCKERFILE.read_text())
    assert not problems, "deploy/Dockerfile:" + _report(problems)


def test_every_topic_named_in_the_deployment_files_exists():
    problems = check_topic_names(checked_texts())
    assert not problems, "unknown topic names in the deployment files:" + _report(problems)


# --- production mode and secrets -----------------------------------------------------------

RAW_COMPOSE = yaml.safe_load(COMPOSE_TEXT)


def test_without_its_secrets_the_compose_file_does_not_start():
    with pytest.raises(ValueError) as refused:
        load_compose(COMPOSE_TEXT, {})
    for name in OPERATOR_ENV:
        assert name in str(refused.value), f"compose would start without {name}"
    for name in OPERATOR_ENV:
        with pytest.raises(ValueError, match=name):
            load_compose(COMPOSE_TEXT, {**OPERATOR_ENV, name: ""})


def test_every_cpnet_container_runs_in_production_mode():
    problems = check_production_mode(COMPOSE)
    assert not problems, "a cpnet container would accept development secrets:" + _report(problems)


def test_no_secret_has_a_default_or_a_literal_value():
    problems = check_secrets_have_no_default(RAW_COMPOSE)
    assert not problems, "a secret could start with a value from the repository:" + _report(problems)


def test_ports_bind_the_bind_address_and_postgres_and_kafka_stay_unpublished():
    problems = check_published_addresses(RAW_COMPOSE)
    assert not problems, "a port is published beyond what an operator needs:" + _report(problems)
    published = {name: host_addresses(service) for name, service in services_of(COMPOSE).items()}
    assert all(address == "127.0.0.1" for addresses in published.values() for address in addresses), published
    expected = {"intake", "assessment", "referral", "followup", "audit", "casework", "console", "jaeger"}
    assert {name for name, addresses in published.items() if addresses} == expected
    chosen = load_compose(COMPOSE_TEXT, {**OPERATOR_ENV, "CPNET_BIND_ADDRESS": "10.20.30.40"})
    assert {address for service in services_of(chosen).values() for address in host_addresses(service)} == {
        "10.20.30.40"
    }


def test_the_plaintext_broker_is_private_as_the_services_declare():
    problems = check_private_plaintext_kafka(COMPOSE)
    assert not problems, "Kafka is declared private but is not:" + _report(problems)
    assert any(
        environment(s).get("CPNET_KAFKA_PLAINTEXT_PRIVATE_NETWORK") == "true"
        for s in services_of(COMPOSE).values()
        if is_cpnet(s)
    ), "the opt-out is set where it applies"


def _compose_settings(container: str, monkeypatch: pytest.MonkeyPatch, **changes: str) -> Settings:
    """Settings as the container's process builds them: from exactly its compose environment."""
    for name in [name for name in os.environ if name.startswith("CPNET_")]:
        monkeypatch.delenv(name)
    compose = load_compose(COMPOSE_TEXT, {**OPERATOR_ENV, **changes})
    for key, value in environment(services_of(compose)[container]).items():
        monkeypatch.setenv(key, value)
    return _kind_of(container)()


def _kind_of(container: str) -> type[Settings]:
    """The settings the container's process reads: its service's own kind."""
    if container == "console":
        return ConsoleSettings
    if container in SERVICE_NAMES:
        return definition_of(container).settings
    return Settings


@pytest.mark.parametrize("container", ["topics", "migrate", *SERVED])
def test_the_compose_environment_with_generated_secrets_passes_the_production_check(
    container: str, monkeypatch: pytest.MonkeyPatch
):
    settings = _compose_settings(container, monkeypatch)
    assert settings.environment == "production"
    assert settings.auth_jwks == OPERATOR_ENV["CPNET_AUTH_JWKS"]
    assert (settings.auth_signing_key == "") == (container != "console"), (
        "only the issuer holds the signing key"
    )


def test_only_the_audit_service_is_given_the_checkpoints_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    given = [
        name
        for name, service in services_of(COMPOSE).items()
        if any("AUDIT_SIGNING_KEY" in key for key in environment(service))
    ]
    assert given == [name for name, served in cpnet_services(COMPOSE).items() if served == "audit"]
    assert given == ["audit", "audit-extra"], "the ledger's every instance, and nothing else"
    settings = _compose_settings("audit", monkeypatch)
    assert settings.audit_signing_key == OPERATOR_ENV["CPNET_AUDIT_SIGNING_KEY"]


def test_only_the_console_is_given_the_token_signing_key() -> None:
    given = [
        name
        for name, service in services_of(COMPOSE).items()
        if any("AUTH_SIGNING_KEY" in key for key in environment(service))
    ]
    assert given == ["console"]


def test_the_console_signs_with_the_operators_key_and_reaches_each_service_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _compose_settings("console", monkeypatch)
    assert settings.auth_signing_key == OPERATOR_ENV["CPNET_AUTH_SIGNING_KEY"]
    assert settings.console_services_url.format(service="casework", port=8006) == "http://casework:8006"
    assert set(cpnet_services(COMPOSE).values()) == set(SERVED)


DEVELOPMENT_VARIANTS = {
    "the development JWKS": ({"CPNET_AUTH_JWKS": DEV_JWKS}, "CPNET_AUTH_JWKS"),
    "a JWKS trusting the development key too": (
        {
            "CPNET_AUTH_JWKS": json.dumps(
                {
                    "keys": [
                        *json.loads(OPERATOR_ENV["CPNET_AUTH_JWKS"])["keys"],
                        *json.loads(DEV_JWKS)["keys"],
                    ]
                }
            )
        },
        "CPNET_AUTH_JWKS",
    ),
    "the old HS256 development secret as the database password": (
        {"CPNET_DB_PASSWORD": INSECURE_DEV_AUTH_SECRET.upper()},
        "CPNET_DATABASE_URL",
    ),
    "development lookup key": ({"CPNET_LOOKUP_KEY": INSECURE_DEV_LOOKUP_KEY_B64}, "CPNET_LOOKUP_KEY"),
    "all-zero signing key": (
        {"CPNET_AUDIT_SIGNING_KEY": base64.b64encode(bytes(32)).decode()},
        "CPNET_AUDIT_SIGNING_KEY",
    ),
    "the old database password": ({"CPNET_DB_PASSWORD": "cpnet"}, "CPNET_DATABASE_URL"),
}


@pytest.mark.parametrize("variant", DEVELOPMENT_VARIANTS, ids=list(DEVELOPMENT_VARIANTS))
def test_the_compose_environment_with_a_development_secret_refuses_to_start(
    variant: str, monkeypatch: pytest.MonkeyPatch
):
    changes, setting = DEVELOPMENT_VARIANTS[variant]
    with pytest.raises(ConfigurationError, match=setting) as refused:
        _compose_settings("audit", monkeypatch, **changes)  # judges every common secret and its own
    assert all(value.strip() not in str(refused.value) for value in changes.values())


def test_host_access_is_loopback_only_and_makes_the_broker_reachable():
    override = yaml.safe_load(interpolate(HOST_ACCESS_FILE.read_text(), {}))
    addresses = [a for service in services_of(override).values() for a in host_addresses(service)]
    assert addresses and set(addresses) == {"127.0.0.1"}, addresses
    merged = copy.deepcopy(COMPOSE)
    for name, service in services_of(override).items():
        target = merged["services"][name]
        target["environment"] = {**target.get("environment", {}), **service.get("environment", {})}
        target["ports"] = [*target.get("ports", []), *service.get("ports", [])]
        target["networks"] = service.get("networks", target.get("networks"))
    problems = check_kafka_broker(merged) + check_kafka_bootstrap(merged)
    assert not problems, "the host-access file breaks the broker:" + _report(problems)
    assert "HOST" in environment(services_of(merged)["kafka"])["KAFKA_ADVERTISED_LISTENERS"]


# --- the checks catch mistakes ---------------------------------------------------------------


def _set_env(container: str, key: str, value: str) -> Callable[[Compose], None]:
    def mutate(compose: Compose) -> None:
        compose["services"][container]["environment"][key] = value

    return mutate


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Compose], None]:
    def mutate(compose: Compose) -> None:
        node = compose
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _replace_env(container: str, key: str, value: str | None) -> Callable[[Compose], None]:
    """Set (or with None, drop) one variable of one container only: in the file as written, a
    container made from another (`<<: *audit`) shares its environment mapping."""

    def mutate(compose: Compose) -> None:
        env = dict(compose["services"][container]["environment"])
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
        compose["services"][container]["environment"] = env

    return mutate


def _replicate_console(compose: Compose) -> None:
    console = compose["services"]["console"]
    compose["services"]["console-extra"] = {
        **console,
        "ports": [],
        "deploy": {"replicas": "${CPNET_CONSOLE_EXTRA_INSTANCES:-0}"},
    }


def _remove_container(container: str) -> Callable[[Compose], None]:
    def mutate(compose: Compose) -> None:
        del compose["services"][container]
        for service in compose["services"].values():
            if isinstance(service.get("depends_on"), dict):
                service["depends_on"].pop(container, None)

    return mutate


BROKEN = {
    "wrong database port": (
        _set_env("referral", "CPNET_DATABASE_URL", "postgresql+asyncpg://cpnet:cpnet@postgres:5433/cpnet"),
        "database_url",
        "port is 5433",
    ),
    "wrong database user": (
        _set_env("migrate", "CPNET_DATABASE_URL", "postgresql+asyncpg://admin:cpnet@postgres:5432/cpnet"),
        "database_url",
        "user is 'admin'",
    ),
    "bootstrap on the controller port": (
        _set_env("intake", "CPNET_KAFKA_BOOTSTRAP", "kafka:9093"),
        "kafka_bootstrap",
        "advertises no listener kafka:9093",
    ),
    "bootstrap on an unknown host": (
        _set_env("topics", "CPNET_KAFKA_BOOTSTRAP", "broker:9092"),
        "kafka_bootstrap",
        "'broker' is not a Kafka service",
    ),
    "otlp to the grpc port": (
        _set_env("followup", "CPNET_OTLP_ENDPOINT", "http://jaeger:4317/v1/traces"),
        "otlp_endpoint",
        "OTLP/gRPC",
    ),
    "health check on another port": (
        _set(
            ("services", "intake", "healthcheck", "test"),
            [
                "CMD",
                "python",
                "-c",
                "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8002/healthz')",
            ],
        ),
        "service_ports",
        "probes /healthz on [8002]",
    ),
    "port env without matching publish": (
        _set_env("assessment", "CPNET_ASSESSMENT_PORT", "9002"),
        "service_ports",
        "port 9002 is not published",
    ),
    "depends on a missing service": (
        _set(("services", "referral", "depends_on", "zookeeper"), {"condition": "service_started"}),
        "depends_on",
        "'zookeeper', which is not a service",
    ),
    "services do not wait for migrations": (
        _set(("services", "followup", "depends_on", "migrate"), {"condition": "service_started"}),
        "wait_for_infrastructure",
        "must depend on migrate with service_completed_successfully",
    ),
    "a service package without container": (
        _remove_container("followup"),
        "service_containers",
        "services/followup is served by 0 containers",
    ),
    "a command the CLI lacks": (
        _set(("services", "migrate", "command"), ["db", "migrate"]),
        "cli_commands",
        "is not a cpnet command",
    ),
    "an unknown topic": (
        _set_env("referral", "CPNET_DEBUG_TOPIC", "case.reportd"),
        "topic_names",
        "'case.reportd' is not in",
    ),
    "auto topic creation on": (
        _set_env("kafka", "KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true"),
        "kafka_broker",
        "must be false",
    ),
    "a service in development mode": (
        _set_env("referral", "CPNET_ENVIRONMENT", "development"),
        "production_mode",
        "must be production",
    ),
    "the private broker published": (
        _set(("services", "kafka", "ports"), ["127.0.0.1:29092:29092"]),
        "private_plaintext_kafka",
        "publishes",
    ),
    "a replicated container publishing a host port": (
        _set(("services", "intake-extra", "ports"), ["127.0.0.1:8001:8001"]),
        "replicated_containers",
        "their host ports would collide",
    ),
    "a replicated container with a fixed name": (
        _set(("services", "audit-extra", "container_name"), "cpnet-audit"),
        "replicated_containers",
        "allows one instance",
    ),
    "a replica count that is no number": (
        _set(("services", "referral-extra", "deploy", "replicas"), "two"),
        "replicated_containers",
        "is not a whole number",
    ),
    "the private broker on the default network": (
        _set(("services", "kafka", "networks"), ["kafka", "default"]),
        "private_plaintext_kafka",
        "non-internal network",
    ),
}

RAW_BROKEN = {
    "an extra instance unlike its service": (
        _replace_env("audit-extra", "CPNET_AUDIT_SIGNING_KEY", None),
        check_extra_instances,
        "audit-extra differs from audit in ['environment']",
    ),
    "an extra instance counted by another variable": (
        _set(("services", "followup-extra", "deploy"), {"replicas": "${CPNET_REPLICAS:-0}"}),
        check_extra_instances,
        "expected '${CPNET_FOLLOWUP_EXTRA_INSTANCES:-0}'",
    ),
    "an extra instance publishing a port": (
        _set(("services", "casework-extra", "ports"), ["${CPNET_BIND_ADDRESS:-127.0.0.1}:8106:8006"]),
        check_extra_instances,
        "casework-extra: publishes",
    ),
    "a service without extra instances": (
        _remove_container("assessment-extra"),
        check_extra_instances,
        "assessment has ['assessment'] as its single container and [] as its extra instances",
    ),
    "a replicated console": (_replicate_console, check_extra_instances, "console runs once"),
    "a default JWKS": (
        _set_env("intake", "CPNET_AUTH_JWKS", "${CPNET_AUTH_JWKS:-}"),
        check_secrets_have_no_default,
        "must be ${CPNET_AUTH_JWKS:?",
    ),
    "a literal lookup key": (
        _set_env("audit", "CPNET_LOOKUP_KEY", INSECURE_DEV_LOOKUP_KEY_B64),
        check_secrets_have_no_default,
        "audit: CPNET_LOOKUP_KEY is not taken from a required variable",
    ),
    "a default database password": (
        _set_env("postgres", "POSTGRES_PASSWORD", "${CPNET_DB_PASSWORD:-cpnet}"),
        check_secrets_have_no_default,
        "${CPNET_DB_PASSWORD} is used with :- default",
    ),
    "a port on every interface": (
        _set(("services", "intake", "ports"), ["8001:8001"]),
        check_published_addresses,
        "does not bind",
    ),
    "postgres published": (
        _set(("services", "postgres", "ports"), ["127.0.0.1:5432:5432"]),
        check_published_addresses,
        "PostgreSQL and Kafka are published only by",
    ),
}


def _assert_caught(
    case: str,
    compose: Compose,
    mutate: Callable[[Compose], None],
    check: Callable[[Compose], list[str]],
    label: str,
    expected: str,
) -> None:
    assert check(compose) == [], f"{label} must pass on the real compose file"

    broken = copy.deepcopy(compose)
    mutate(broken)
    problems = check(broken)

    assert any(expected in problem for problem in problems), (
        f"{label} did not catch {case!r}; it reported:" + _report(problems or ["nothing"])
    )


@pytest.mark.parametrize("case", RAW_BROKEN, ids=list(RAW_BROKEN))
def test_a_compose_file_with_a_secret_default_or_an_open_port_is_caught(case):
    mutate, check, expected = RAW_BROKEN[case]
    _assert_caught(case, RAW_COMPOSE, mutate, check, check.__name__, expected)


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_compose_file_is_caught(case):
    mutate, check_name, expected = BROKEN[case]
    _assert_caught(case, COMPOSE, mutate, COMPOSE_CHECKS[check_name], check_name, expected)


def test_interpolation_follows_compose_rules():
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d}/${EMPTY:-d}/${UNSET:-d}", env) == "x/d/d"
    assert interpolate("${EMPTY-d}/${UNSET-d}/$$SET/$SET", env) == "/d/$SET/x"
    with pytest.raises(ValueError):
        interpolate("${UNSET:?needed}", env)


# --- the Kafka ACL plan (deploy/kafka) -------------------------------------------------------


def _acl_plan():
    spec = importlib.util.spec_from_file_location("cpnet_deploy_acl_plan", KAFKA_DIR / "acl_plan.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while the class is built
    spec.loader.exec_module(module)
    return module


def test_the_acl_script_is_generated_from_the_current_registry():
    expected = _acl_plan().render_shell()
    assert (KAFKA_DIR / "acls.sh").read_text() == expected, (
        "deploy/kafka/acls.sh is stale: python deploy/kafka/acl_plan.py > deploy/kafka/acls.sh"
    )


def test_each_agency_may_only_read_its_own_referrals_and_write_responses():
    acl = _acl_plan()
    grants = acl.plan()
    for agency in Agency:
        principal = acl.agency_principal(agency)
        actual = {(g.operation, g.resource, g.name, g.pattern) for g in grants if g.principal == principal}
        assert actual == {
            ("Read", "topic", referral_topic(agency), "literal"),
            ("Read", "group", f"agency.{agency.value}", "literal"),
            # The kit's urgent lane, reading ahead for emergencies.
            ("Read", "group", f"agency.{agency.value}.urgent", "literal"),
            ("Write", "topic", "referral.responses", "literal"),
        }, f"{principal} has the wrong grants: {sorted(actual)}"
    assert len({acl.agency_group(a) for a in Agency}) == len(Agency), "two agencies share a consumer group"


def test_the_acl_plan_covers_the_registry_and_guards_personal_data():
    acl = _acl_plan()
    grants = acl.plan()
    topics_granted = {g.name for g in grants if g.resource == "topic"}
    assert topics_granted <= set(TOPICS), f"ACLs for unknown topics: {sorted(topics_granted - set(TOPICS))}"
    unwritten = sorted(
        name for name in TOPICS if not any(g.operation == "Write" and g.name == name for g in grants)
    )
    assert not unwritten, f"topics nobody may write: {unwritten}"
    assert set(acl.SERVICE_CONSUMES) <= set(SERVICE_NAMES), "ACL plan names a service that does not exist"
    for name, topic in TOPICS.items():
        if topic.personal_data:
            readers = {g.principal for g in grants if g.operation == "Read" and g.name == name}
            assert readers <= {"cpnet-intake"}, (
                f"{name} carries personal data but {sorted(readers)} may read it"
            )
