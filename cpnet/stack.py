"""The local real stack: an Apache Kafka broker (KRaft) and a PostgreSQL cluster, started
and stopped by `cpnet stack up | down | status` on a machine with no Docker engine."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy.engine import make_url

from shared.settings import Settings

MAVEN_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
AUDIT_ROLE = "cpnet_audit"


# PostgreSQL's defaults are sized for a small machine: 128 MB of buffers, and a checkpoint every
# 1 GB of WAL, whose first write of each page after it is a whole-page image. A county's import or
# a benchmark of 100,000 reports writes several GB: with these, the database's CPU per report fell
# (docs/PERFORMANCE.md). Durability is unchanged (fsync and synchronous commit stay on).
SERVER_SETTINGS = {"shared_buffers": "512MB", "max_wal_size": "4GB", "checkpoint_timeout": "15min"}


class StackError(RuntimeError):
    """A stack step failed; the message is one line an operator can act on."""


@dataclass(frozen=True)
class Component:
    name: str
    pid_file: Path
    host: str
    port: int
    process_marker: str  # must appear in the pid's command line (args joined by spaces)

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None
        return pid if _is_ours(pid, self.process_marker) else None

    def port_open(self) -> bool:
        return _port_open(self.host, self.port)


def _is_ours(pid: int, marker: str) -> bool:
    """True when pid is alive and is the process we started (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    return marker in cmdline and not zombie


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _wait(predicate, *, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    hint = f" (see {log})" if log else ""
    raise StackError(f"{what} did not become ready within {timeout:.0f}s{hint}")


def _run(cmd: list[str], *, what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, check=False, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise StackError(f"{what} failed: {detail[-1] if detail else 'exit ' + str(result.returncode)}")
    return result


class Stack:
    """Owns the stack folder: data, logs and the pid of every process it starts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.stack_dir.resolve()
        self.kafka_dir = self.root / "kafka"
        self.kafka_host, self.kafka_port = settings.kafka_host_port
        url = make_url(settings.database_url)
        self.db_url = url
        self.pg_host, self.pg_port = settings.database_host_port
        self.pg_dir = self._postgres_dir()
        # A pid counts as ours only if its command line names this stack's own files: a stale
        # pid file (after a reboot, or in a copied folder) must never aim at another broker.
        self.kafka = Component(
            "kafka",
            self.kafka_dir / "kafka.pid",
            self.kafka_host,
            self.kafka_port,
            f"kafka.Kafka {self.kafka_dir / 'server.properties'} ",
        )
        self.postgres = Component(
            "postgres",
            self.pg_dir / "postgres.pid",
            self.pg_host,
            self.pg_port,
            f"postgres -D {self.pg_dir / 'data'} ",
        )

    # ---- paths -----------------------------------------------------------------
    def _postgres_dir(self) -> Path:
        """PostgreSQL runs as the `postgres` user, who must reach its data folder; a stack
        folder under a private home (e.g. /root) gets a sibling under /var/tmp instead."""
        preferred = self.root / "postgres"
        if os.geteuid() != 0 or _postgres_can_reach(self.root):
            return preferred
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
        return Path("/var/tmp") / f"cpnet-postgres-{digest}"

    @property
    def kafka_cache(self) -> Path:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        return base / "cpnet" / f"kafka-{self.settings.kafka_version}"

    # ---- up --------------------------------------------------------------------
    def up(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._postgres_up()
        self._kafka_up()
        from shared.messaging.admin import ensure_topics  # lazy: keeps `stack status` light

        ensure_topics(self.settings.kafka_bootstrap)

    def _kafka_up(self) -> None:
        if self.kafka.pid() is not None:
            _wait(self.kafka.port_open, timeout=60, what="Kafka", log=self.kafka_dir / "kafka.log")
            return
        if self.kafka.port_open():
            raise StackError(f"port {self.kafka_port} is taken by another process; set CPNET_KAFKA_BOOTSTRAP")
        libs = self._kafka_classpath()
        self.kafka_dir.mkdir(parents=True, exist_ok=True)
        data = self.kafka_dir / "data"
        props = self.kafka_dir / "server.properties"
        log4j = self.kafka_dir / "log4j2.properties"
        props.write_text(
            _template("server.properties")
            .replace("@HOST@", self.kafka_host)
            .replace("@PORT@", str(self.kafka_port))
            .replace("@CONTROLLER_PORT@", str(self.kafka_port + 1))
            .replace("@DATA_DIR@", str(data))
        )
        log4j.write_text(
            _template("log4j2.properties").replace("@LOG_FILE@", str(self.kafka_dir / "kafka.log"))
        )
        java = ["java", "-Xms256m", "-Xmx768m", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"]
        if not (data / "meta.properties").exists():
            _run(
                [
                    *java,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    cluster_id(),
                    "-c",
                    str(props),
                ],
                what="Kafka storage format",
            )
        with open(self.kafka_dir / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                [*java, "kafka.Kafka", str(props)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.kafka.pid_file.write_text(f"{proc.pid}\n")

        def ready() -> bool:
            if proc.poll() is not None:
                raise StackError(
                    f"Kafka exited with code {proc.returncode} (see {self.kafka_dir / 'kafka.log'})"
                )
            return self.kafka.port_open()

        _wait(ready, timeout=90, what="Kafka", log=self.kafka_dir / "kafka.log")

    def _kafka_classpath(self) -> Path:
        libs = self.kafka_cache / "libs"
        marker = libs / ".complete"
        if marker.exists():
            return libs
        if shutil.which("mvn") is None:
            raise StackError("Maven (mvn) is not installed: it fetches the Kafka jars once")
        if shutil.which("java") is None:
            raise StackError("Java (JDK 17) is not installed: the Kafka broker runs on it")
        self.kafka_cache.mkdir(parents=True, exist_ok=True)
        pom = self.kafka_cache / "pom.xml"
        pom.write_text(_template("kafka-pom.xml").replace("@KAFKA_VERSION@", self.settings.kafka_version))
        shutil.rmtree(libs, ignore_errors=True)
        _run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(pom),
                f"{MAVEN_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            what="fetching the Kafka jars with Maven",
        )
        marker.touch()
        return libs

    def _postgres_up(self) -> None:
        if self.postgres.pid() is not None:
            _wait(self._pg_ready, timeout=60, what="PostgreSQL", log=self.pg_dir / "postgres.log")
            self._ensure_database(postgres_bindir(), self.pg_dir / "socket")
            return
        if self.postgres.port_open():
            raise StackError(
                f"port {self.pg_port} is taken by another process; set CPNET_DATABASE_URL's port"
            )
        bindir = postgres_bindir()
        data = self.pg_dir / "data"
        socket_dir = self.pg_dir / "socket"
        fresh = not (data / "PG_VERSION").exists()
        for folder in (self.pg_dir, socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
            _give_to_postgres(folder)
        if fresh:
            data.mkdir(exist_ok=True)
            _give_to_postgres(data)
            data.chmod(0o700)
            _run(
                _as_postgres(
                    [
                        str(bindir / "initdb"),
                        "-D",
                        str(data),
                        "-U",
                        "postgres",
                        "-E",
                        "UTF8",
                        "--locale=C",
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                    ]
                ),
                what="PostgreSQL initdb",
            )
        log = self.pg_dir / "postgres.log"
        options = f"-p {self.pg_port} -k {socket_dir} -c listen_addresses={self.pg_host} " + " ".join(
            f"-c {name}={value}" for name, value in SERVER_SETTINGS.items()
        )
        _run(
            _as_postgres(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            what="PostgreSQL start",
        )
        pid = (data / "postmaster.pid").read_text().split()[0]
        self.postgres.pid_file.write_text(f"{pid}\n")
        _wait(self._pg_ready, timeout=60, what="PostgreSQL", log=log)
        self._ensure_database(bindir, socket_dir)

    def _pg_ready(self) -> bool:
        return self.postgres.port_open()

    def _ensure_database(self, bindir: Path, socket_dir: Path) -> None:
        """Create the application role and database named in CPNET_DATABASE_URL, once."""
        user = self.db_url.username or "cpnet"
        password = self.db_url.password or "cpnet"
        database = self.db_url.database or "cpnet"
        psql = [
            str(bindir / "psql"),
            "-h",
            str(socket_dir),
            "-p",
            str(self.pg_port),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-d",
            "postgres",
        ]
        sql_user = user.replace('"', '""')
        sql_password = str(password).replace("'", "''")
        exists = _run(
            _as_postgres([*psql, "-c", f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'"]),
            what="PostgreSQL role check",
        ).stdout.strip()
        if not exists:
            _run(
                _as_postgres([*psql, "-c", f"CREATE ROLE \"{sql_user}\" LOGIN PASSWORD '{sql_password}'"]),
                what="PostgreSQL create role",
            )
        exists = _run(
            _as_postgres([*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{database}'"]),
            what="PostgreSQL database check",
        ).stdout.strip()
        if not exists:
            _run(
                _as_postgres([*psql, "-c", f'CREATE DATABASE "{database}" OWNER "{sql_user}"']),
                what="PostgreSQL create database",
            )
        # The audit service's INSERT-only role; the application login may take it on.
        _run(
            _as_postgres(
                [
                    *psql,
                    "-c",
                    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                    f"'{AUDIT_ROLE}') THEN CREATE ROLE {AUDIT_ROLE} NOLOGIN; END IF; END $$",
                    "-c",
                    f'GRANT {AUDIT_ROLE} TO "{sql_user}"',
                ]
            ),
            what="PostgreSQL audit role",
        )

    # ---- down / status -------------------------------------------------------------
    def down(self) -> list[str]:
        stopped = []
        # Kafka first: a clean broker shutdown does not need the database, the reverse holds too.
        for component, sig in ((self.kafka, signal.SIGTERM), (self.postgres, signal.SIGINT)):
            pid = component.pid()
            if pid is not None:
                _stop(pid, sig, component.process_marker)
                stopped.append(f"{component.name} (pid {pid})")
            component.pid_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, str]:
        report = {}
        for component in (self.kafka, self.postgres):
            pid = component.pid()
            where = f"{component.host}:{component.port}"
            if pid is None:
                report[component.name] = (
                    f"stopped ({where} {'answers: not ours' if component.port_open() else 'closed'})"
                )
            else:
                report[component.name] = f"running pid {pid} on {where}" + (
                    "" if component.port_open() else " (port closed)"
                )
        return report


def _stop(pid: int, sig: signal.Signals, marker: str, timeout: float = 60) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_ours(pid, marker):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL (15 or later) server binaries."""
    candidates = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not candidates:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            _run(
                ["apt-get", "install", "-y", "-q", "postgresql"],
                what="installing Debian's postgresql",
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
            return postgres_bindir()
        raise StackError("PostgreSQL server binaries are missing: apt-get install postgresql")
    best = candidates[-1]
    if best.parent.name.isdigit() and int(best.parent.name) < 15:
        raise StackError(f"PostgreSQL {best.parent.name} is too old: cpnet needs 15 or later")
    return best


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres system user."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def _postgres_can_reach(path: Path) -> bool:
    probe = path if path.exists() else path.parent
    return (
        subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(probe)], check=False).returncode
        == 0
    )


def cluster_id() -> str:
    """A new Kafka cluster id: a UUID as 22 characters of URL-safe base64.

    Like Kafka's own ``Uuid.randomUuid()``, never one that starts with "-": the storage tool's
    argument parser reads such an id as an option and refuses to format (1 id in 64).
    """
    import base64

    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):
            return value


def _template(name: str) -> str:
    return resources.files("cpnet.stack_files").joinpath(name).read_text()
