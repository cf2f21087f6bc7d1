"""Kafka with authentication, encryption and authorisation, as production runs it (DESIGN
§7): a real broker with a SASL_SSL listener (SCRAM-SHA-512 over TLS, its own CA) and the
standard authoriser denying by default, given exactly the ACLs of deploy/kafka/acls.sh; and
every kind of cpnet client — a service's broker, the admin and health clients, the agency
kit — connecting with the CPNET_KAFKA_* settings alone, each as its own principal."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cpnet.agency import listen
from cpnet.stack import Stack, _template, cluster_id
from shared.contracts.envelope import new_envelope, parse_event
from shared.contracts.events import ReferralCreated
from shared.contracts.topics import TOPICS, referral_topic
from shared.contracts.vocabulary import Agency, Category, RiskLevel, Stage
from shared.errors import InfrastructureUnavailable
from shared.health import require_kafka
from shared.messaging.admin import create_topics
from shared.messaging.broker import make_broker
from shared.messaging.security import broker_security, client_security
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVICE_USER, SERVICE_PASSWORD = "cpnet-referral", "referral-scram-secret"
AGENCY_USER, AGENCY_PASSWORD = "agency-police", "police-scram-secret"
# Every principal of the plan this test speaks as, with its password.
USERS = {
    "broker": "broker-scram-secret",
    "cpnet-admin": "admin-scram-secret",
    SERVICE_USER: SERVICE_PASSWORD,
    "cpnet-intake": "intake-scram-secret",
    AGENCY_USER: AGENCY_PASSWORD,
    "hotline": "hotline-scram-secret",
}


@dataclass(frozen=True)
class SecureKafka:
    bootstrap: str
    cafile: Path

    def settings(self, user: str = SERVICE_USER, password: str | None = None, **changes) -> Settings:
        values = {
            "kafka_bootstrap": self.bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_username": user,
            "kafka_password": password or USERS[user],
            "kafka_ssl_cafile": self.cafile,
        }
        return Settings(**{**values, **changes})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed CA certificate for 127.0.0.1 and its key: the broker's keystore (PEM) and
    the clients' CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cpnet test broker")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    keystore, cafile = folder / "broker.pem", folder / "ca.pem"
    keystore.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + pem
    )
    cafile.write_bytes(pem)
    return keystore, cafile


@pytest.fixture(scope="module")
def secure_kafka(infra, tmp_path_factory) -> Iterator[SecureKafka]:
    folder = tmp_path_factory.mktemp("secure-kafka")
    keystore, cafile = _certificate(folder)
    port, controller = _free_port(), _free_port()
    properties = folder / "server.properties"
    properties.write_text(f"""
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SASL_SSL://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\\
  org.apache.kafka.common.security.scram.ScramLoginModule \\
  required username="broker" password="broker-scram-secret";
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={cafile}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
# The broker itself, and the controller listener's unauthenticated in-process traffic.
super.users=User:broker;User:ANONYMOUS
log.dirs={folder / "data"}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
""")
    log4j = folder / "log4j2.properties"
    log4j.write_text(_template("log4j2.properties").replace("@LOG_FILE@", str(folder / "kafka.log")))
    libs = Stack(Settings())._kafka_classpath()
    java = ["java", "-Xms128m", "-Xmx512m", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"]
    subprocess.run(
        [
            *java,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id(),
            "-c",
            str(properties),
            *(
                arg
                for user, password in USERS.items()
                for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]")
            ),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    broker = subprocess.Popen(
        [*java, "kafka.Kafka", str(properties)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if broker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the SASL_SSL broker did not start: {(folder / 'kafka.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        secure = SecureKafka(f"127.0.0.1:{port}", cafile)
        _apply_the_acl_plan(secure, java, folder)
        admin = secure.settings("cpnet-admin")
        asyncio.run(
            create_topics(admin.kafka_bootstrap, list(TOPICS.values()), security=client_security(admin))
        )
        yield secure
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            broker.kill()


def acl_plan_bindings() -> list[str]:
    """What deploy/kafka/acls.sh would run, as bindings: `principal operation type name pattern`."""
    dry_run = subprocess.run(
        ["bash", str(ROOT / "deploy" / "kafka" / "acls.sh")],
        capture_output=True,
        text=True,
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "DRY_RUN": "1",
            "KAFKA_BOOTSTRAP": "broker:9094",
            "KAFKA_ADMIN_CONFIG": "admin.properties",
        },
    )
    bindings = []
    for command in dry_run.stdout.splitlines():
        words = command.split()
        options: dict[str, list[str]] = {}
        for flag, value in zip(words, words[1:], strict=False):
            if flag.startswith("--"):
                options.setdefault(flag, []).append(value)
        (principal,) = options["--allow-principal"]
        kind = "topic" if "--topic" in options else "group"
        (name,) = options[f"--{kind}"]
        pattern = options.get("--resource-pattern-type", ["literal"])[0]
        bindings += [
            f"{principal} {operation.upper()} {kind.upper()} {name} {pattern.upper()}"
            for operation in options["--operation"]
        ]
    return bindings


def _apply_the_acl_plan(secure: SecureKafka, java: list[str], folder: Path) -> None:
    config = folder / "broker-admin.properties"
    config.write_text(
        f"bootstrap.servers={secure.bootstrap}\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
        f"ssl.truststore.type=PEM\nssl.truststore.location={secure.cafile}\n"
        f"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="broker" password="{USERS["broker"]}";\n'
    )
    bindings = acl_plan_bindings()
    applied = subprocess.run(
        [*java, str(Path(__file__).parent / "kafka" / "ApplyAcls.java"), str(config)],
        input="\n".join(bindings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert applied.returncode == 0, applied.stderr[-2000:]
    assert applied.stdout.split()[-1] == str(len(bindings))


async def can_write(settings: Settings, topic: str) -> bool:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        **client_security(settings),
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"probe", key=b"probe")
        return True
    except TopicAuthorizationFailedError:
        return False
    finally:
        await producer.stop()


async def can_read(settings: Settings, topic: str, group: str) -> bool:
    """Joins `group` on `topic` until it is given partitions (True) or refused (False)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_security(settings),
    )
    try:
        await consumer.start()
        for _ in range(60):
            await consumer.getmany(timeout_ms=500)
            if consumer.assignment():
                return True
        raise AssertionError(f"neither given nor refused {topic} in 30 s")
    except (TopicAuthorizationFailedError, GroupAuthorizationFailedError):
        return False
    finally:
        await consumer.stop()


async def test_a_service_publishes_as_its_own_principal_and_an_agency_reads_only_its_topic(
    secure_kafka,
) -> None:
    referral = secure_kafka.settings(SERVICE_USER)
    await require_kafka(referral.kafka_bootstrap, security=client_security(referral))
    broker = make_broker(
        referral.kafka_bootstrap, client_id="test-secure", security=broker_security(referral)
    )
    await broker.connect()
    try:
        await broker.publish(b"over tls", topic=referral_topic(Agency.police), key=b"case-1")
    finally:
        await broker.stop()
    police = secure_kafka.settings(AGENCY_USER)
    assert await can_read(police, referral_topic(Agency.police), "agency.police")
    assert not await can_read(police, referral_topic(Agency.education), "agency.police"), (
        "another agency's topic"
    )
    assert not await can_read(police, referral_topic(Agency.police), "agency.education"), (
        "another agency's group"
    )


async def test_only_intake_reads_the_hotlines_personal_data_and_each_service_writes_only_its_own_topics(
    secure_kafka,
) -> None:
    hotline, intake = secure_kafka.settings("hotline"), secure_kafka.settings("cpnet-intake")
    referral, police = secure_kafka.settings(SERVICE_USER), secure_kafka.settings(AGENCY_USER)
    assert await can_write(hotline, "intake.reports.raw")
    assert not await can_write(hotline, "case.reported"), "the hotline writes raw reports only"
    assert await can_read(intake, "intake.reports.raw", "intake.hotline")
    for outsider, group in ((hotline, "hotline"), (police, "agency.police"), (referral, "referral.assessed")):
        assert not await can_read(outsider, "intake.reports.raw", group), (
            "the raw reports carry personal data"
        )
    assert await can_write(intake, "case.reported") and await can_write(intake, "audit.access")
    assert not await can_write(referral, "case.assessed"), "assessment alone grades"
    assert not await can_write(police, referral_topic(Agency.police)), "an agency cannot forge referrals"
    assert await can_write(police, "referral.responses")
    # Intake follows the referrals, to know which agency may read which child's details.
    assert await can_read(intake, referral_topic(Agency.police), "intake.referrals")


async def test_a_wrong_password_is_one_line_naming_the_settings_and_never_the_password(secure_kafka) -> None:
    settings = secure_kafka.settings(password="not-the-password")
    with pytest.raises(InfrastructureUnavailable) as refused:
        await require_kafka(settings.kafka_bootstrap, security=client_security(settings))
    message = str(refused.value)
    assert "authentication failed" in message and "CPNET_KAFKA_PASSWORD" in message
    assert "not-the-password" not in message and "\n" not in message


@pytest.mark.parametrize(
    "changes",
    [
        {"kafka_security_protocol": "PLAINTEXT"},  # no TLS, no SASL
        {"kafka_ssl_cafile": None},  # the system's trust store does not know the cluster's CA
    ],
)
async def test_a_client_without_tls_or_the_clusters_ca_cannot_connect(secure_kafka, changes) -> None:
    settings = secure_kafka.settings(**changes)
    with pytest.raises(InfrastructureUnavailable) as refused:
        await require_kafka(settings.kafka_bootstrap, timeout=5.0, security=client_security(settings))
    if changes.get("kafka_ssl_cafile", True) is None:
        assert "TLS handshake failed" in str(refused.value)


async def _first_answer(consumer: AIOKafkaConsumer):
    """The first enveloped event on the topic (other tests leave probe bytes there)."""
    while True:
        record = await consumer.getone()
        if record.value.startswith(b"{"):
            return parse_event(record.value)


async def test_the_agency_kit_receives_and_acknowledges_with_the_agencys_own_principal(
    secure_kafka, tmp_path
) -> None:
    service = secure_kafka.settings(SERVICE_USER)
    agency = secure_kafka.settings(AGENCY_USER)
    police, responses = TOPICS[referral_topic(Agency.police)], TOPICS["referral.responses"]
    case_id = uuid.uuid4()
    referral = new_envelope(
        ReferralCreated(
            referral_id=uuid.uuid4(),
            case_id=case_id,
            agency=Agency.police,
            risk_level=RiskLevel.red,
            emergency=True,
            categories=[Category.abuse],
            needs=[],
            jurisdiction="140402001001",
            ack_due_at=datetime.datetime.now(datetime.UTC),
            details_url="https://referral.example/v1/referrals/1",
            stage=Stage.written_review,
        ),
        case_id=case_id,
        producer="referral",
    )
    broker = make_broker(
        service.kafka_bootstrap, client_id="test-secure-referral", security=broker_security(service)
    )
    await broker.connect()
    try:
        await broker.publish(referral.to_json(), topic=police.name, key=str(case_id).encode())
    finally:
        await broker.stop()

    stop = asyncio.Event()
    out = tmp_path / "police.jsonl"
    kit = asyncio.create_task(
        listen(
            bootstrap=agency.kafka_bootstrap,
            agency=Agency.police,
            out=out,
            state=tmp_path / "police.acked",
            responder="desk-1",
            stop=stop,
            echo=lambda line: None,
            security=client_security(agency),
        )
    )
    consumer = AIOKafkaConsumer(
        responses.name,
        bootstrap_servers=service.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        **client_security(service),
    )
    await consumer.start()
    try:
        answer = await asyncio.wait_for(_first_answer(consumer), timeout=60)
    finally:
        stop.set()
        await kit
        await consumer.stop()
    assert (answer.payload.referral_id, answer.payload.action) == (
        referral.payload.referral_id,
        "acknowledge",
    )
    assert json.loads(out.read_text())["event_id"] == str(referral.event_id)
