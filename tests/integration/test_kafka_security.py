"""Kafka with authentication and encryption, as production runs it (DESIGN §7): a real
broker with a SASL_SSL listener (SCRAM-SHA-512 over TLS, its own CA), and every kind of cpnet
client — a service's broker, the admin and health clients, the agency kit — connecting with
the CPNET_KAFKA_* settings alone."""

from __future__ import annotations

import asyncio
import base64
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
from aiokafka import AIOKafkaConsumer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cpnet.agency import listen
from cpnet.stack import Stack, _template
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

SERVICE_USER, SERVICE_PASSWORD = "cpnet-referral", "referral-scram-secret"
AGENCY_USER, AGENCY_PASSWORD = "agency-police", "police-scram-secret"


@dataclass(frozen=True)
class SecureKafka:
    bootstrap: str
    cafile: Path

    def settings(self, user: str = SERVICE_USER, password: str = SERVICE_PASSWORD, **changes) -> Settings:
        values = dict(kafka_bootstrap=self.bootstrap, kafka_security_protocol="SASL_SSL", kafka_username=user,
                      kafka_password=password, kafka_ssl_cafile=self.cafile)
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
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    keystore, cafile = folder / "broker.pem", folder / "ca.pem"
    keystore.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()) + pem)
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
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule \\
  required username="broker" password="broker-scram-secret";
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={cafile}
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
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    users = [("broker", "broker-scram-secret"), (SERVICE_USER, SERVICE_PASSWORD), (AGENCY_USER, AGENCY_PASSWORD)]
    subprocess.run([*java, "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id, "-c", str(properties),
                    *(arg for user, password in users
                      for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"))],
                   check=True, capture_output=True, timeout=120)
    broker = subprocess.Popen([*java, "kafka.Kafka", str(properties)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if broker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the SASL_SSL broker did not start: {(folder / 'kafka.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield SecureKafka(f"127.0.0.1:{port}", cafile)
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            broker.kill()


async def test_a_service_creates_topics_publishes_and_consumes_with_scram_over_tls(secure_kafka) -> None:
    settings = secure_kafka.settings()
    security = client_security(settings)
    await require_kafka(settings.kafka_bootstrap, security=security)
    topic = TOPICS["case.closed"]
    assert await create_topics(settings.kafka_bootstrap, [topic], security=security) in ([topic.name], [])

    broker = make_broker(settings.kafka_bootstrap, client_id="test-secure", security=broker_security(settings))
    await broker.connect()
    try:
        await broker.publish(b"over tls", topic=topic.name, key=b"case-1")
    finally:
        await broker.stop()
    consumer = AIOKafkaConsumer(topic.name, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                auto_offset_reset="earliest", **security)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert record.value == b"over tls"


async def test_a_wrong_password_is_one_line_naming_the_settings_and_never_the_password(secure_kafka) -> None:
    settings = secure_kafka.settings(password="not-the-password")
    with pytest.raises(InfrastructureUnavailable) as refused:
        await require_kafka(settings.kafka_bootstrap, security=client_security(settings))
    message = str(refused.value)
    assert "authentication failed" in message and "CPNET_KAFKA_PASSWORD" in message
    assert "not-the-password" not in message and "\n" not in message


@pytest.mark.parametrize("changes", [
    {"kafka_security_protocol": "PLAINTEXT"},  # no TLS, no SASL
    {"kafka_ssl_cafile": None},  # the system's trust store does not know the cluster's CA
])
async def test_a_client_without_tls_or_the_clusters_ca_cannot_connect(secure_kafka, changes) -> None:
    settings = secure_kafka.settings(**changes)
    with pytest.raises(InfrastructureUnavailable) as refused:
        await require_kafka(settings.kafka_bootstrap, timeout=5.0, security=client_security(settings))
    if changes.get("kafka_ssl_cafile", True) is None:
        assert "TLS handshake failed" in str(refused.value)


async def test_the_agency_kit_receives_and_acknowledges_with_the_agencys_own_principal(
        secure_kafka, tmp_path) -> None:
    service = secure_kafka.settings()
    agency = secure_kafka.settings(AGENCY_USER, AGENCY_PASSWORD)
    police, responses = TOPICS[referral_topic(Agency.police)], TOPICS["referral.responses"]
    await create_topics(service.kafka_bootstrap, [police, responses], security=client_security(service))
    case_id = uuid.uuid4()
    referral = new_envelope(ReferralCreated(
        referral_id=uuid.uuid4(), case_id=case_id, agency=Agency.police, risk_level=RiskLevel.red, emergency=True,
        categories=[Category.abuse], needs=[], jurisdiction="140402001001",
        ack_due_at=datetime.datetime.now(datetime.UTC), details_url="https://referral.example/v1/referrals/1",
        stage=Stage.written_review), case_id=case_id, producer="referral")
    broker = make_broker(service.kafka_bootstrap, client_id="test-secure-referral", security=broker_security(service))
    await broker.connect()
    try:
        await broker.publish(referral.to_json(), topic=police.name, key=str(case_id).encode())
    finally:
        await broker.stop()

    stop = asyncio.Event()
    out = tmp_path / "police.jsonl"
    kit = asyncio.create_task(listen(bootstrap=agency.kafka_bootstrap, agency=Agency.police, out=out,
                                     state=tmp_path / "police.acked", responder="desk-1", stop=stop,
                                     echo=lambda line: None, security=client_security(agency)))
    consumer = AIOKafkaConsumer(responses.name, bootstrap_servers=service.kafka_bootstrap, group_id=None,
                                auto_offset_reset="earliest", **client_security(service))
    await consumer.start()
    try:
        answer = parse_event((await asyncio.wait_for(consumer.getone(), timeout=60)).value)
    finally:
        stop.set()
        await kit
        await consumer.stop()
    assert (answer.payload.referral_id, answer.payload.action) == (referral.payload.referral_id, "acknowledge")
    assert json.loads(out.read_text())["event_id"] == str(referral.event_id)
