"""`cpnet run --instances N`: which processes the runner starts, on which ports, with which
environment, and that each instance is announced and restarted on its own (no process started)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cpnet import runner
from cpnet.cli import app as cli
from cpnet.restarts import RestartPolicy
from cpnet.runner import (
    INSTANCE_PORT_STEP,
    ORDINARY_NICE,
    URGENT_PORT_OFFSET,
    Instance,
    _Supervised,
    instance_env,
    plan_instances,
)
from shared.errors import ConfigurationError
from shared.settings import Settings

SERVICES = ["intake", "assessment", "referral", "followup", "casework", "audit"]
SETTINGS = Settings()
# The default ports, whatever CPNET_*_PORT the shell running the tests has set.
DEFAULT_PORTS = {name: Settings.model_fields[f"{name}_port"].default for name in [*SERVICES, "console"]}


def test_one_instance_is_the_plain_run_of_every_service_then_the_console() -> None:
    planned = plan_instances(SERVICES, 1, SETTINGS.port_of)
    assert [(i.label, i.name, i.port) for i in planned] == [
        *((name, name, SETTINGS.port_of(name)) for name in SERVICES),
        ("console", "console", SETTINGS.console_port),
    ]
    base = {"CPNET_LOG_LEVEL": "INFO"}
    assert all(instance_env(instance, base) == base for instance in planned), "no port is added"


def test_n_instances_of_each_service_on_stepped_ports_and_one_console_last() -> None:
    planned = plan_instances(["intake", "audit"], 3, DEFAULT_PORTS.__getitem__)
    assert [(i.label, i.name, i.port, i.number) for i in planned] == [
        ("intake", "intake", 8001, 1),
        ("intake#2", "intake", 8101, 2),
        ("intake#3", "intake", 8201, 3),
        ("audit", "audit", 8005, 1),
        ("audit#2", "audit", 8105, 2),
        ("audit#3", "audit", 8205, 3),
        ("console", "console", 8000, 1),
    ]
    assert INSTANCE_PORT_STEP == 100
    assert len({i.label for i in planned}) == len(planned), "each instance is supervised under its own key"


def test_an_added_instance_is_told_its_port_and_listens_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    second = Instance(label="referral#2", name="referral", port=8103, number=2)
    base = {"CPNET_LOG_LEVEL": "INFO"}
    env = instance_env(second, base)
    assert env == {**base, "CPNET_REFERRAL_PORT": "8103"}
    assert base == {"CPNET_LOG_LEVEL": "INFO"}, "the other children's environment is untouched"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings().port_of("referral") == 8103, "`cpnet serve referral` listens where it is announced"


def test_fewer_than_one_instance_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 1"):
        plan_instances(SERVICES, 0, SETTINGS.port_of)


def test_added_instances_on_a_taken_or_impossible_port_are_refused() -> None:
    ports = {"intake": 8001, "assessment": 8101, "console": 8000}
    with pytest.raises(ConfigurationError, match="intake#2 and assessment would both listen on port 8101"):
        plan_instances(["intake", "assessment"], 2, ports.__getitem__)
    high = {"intake": 65500, "console": 8000}
    with pytest.raises(ConfigurationError, match="beyond 65535"):
        plan_instances(["intake"], 2, high.__getitem__)
    # A plain run is not judged: its ports are the operator's, as before.
    same = {"intake": 8001, "assessment": 8001, "console": 8000}
    assert len(plan_instances(["intake", "assessment"], 1, same.__getitem__)) == 3


class _Process:
    """A child that has exited (`code`) or is still running (None)."""

    def __init__(self, pid: int, code: int | None) -> None:
        self.pid, self.returncode = pid, code

    def poll(self) -> int | None:
        return self.returncode


class _StopAfter:
    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    @property
    def requested(self) -> bool:
        self.rounds -= 1
        return self.rounds < 0


def test_each_instance_is_announced_and_restarted_on_its_own(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    planned = plan_instances(["intake"], 2, DEFAULT_PORTS.__getitem__)
    supervised = {
        i.label: _Supervised(i.name, instance_env(i, {}), label=i.label, port=i.port) for i in planned
    }
    supervised["intake"].process = _Process(101, None)
    supervised["intake#2"].process = _Process(102, 1)  # died
    supervised["console"].process = _Process(103, None)
    for service in supervised.values():
        runner._announce(service, SETTINGS)
    monkeypatch.setattr(runner.time, "sleep", lambda seconds: None)

    assert runner._supervise(supervised, _StopAfter(1), RestartPolicy(), SETTINGS) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        f"intake: http://{SETTINGS.http_host}:8001  (pid 101)",
        f"intake#2: http://{SETTINGS.http_host}:8101  (pid 102)",
        f"console: http://{SETTINGS.http_host}:8000  (pid 103)",
    ]
    assert "cpnet: intake#2 exited with code 1; restarting in 1 s (restart 1)" in out
    assert supervised["intake#2"].restart_at is not None and len(supervised["intake#2"].runs) == 1
    assert supervised["intake"].restart_at is None and supervised["intake"].runs == []
    assert supervised["intake#2"].env == {"CPNET_INTAKE_PORT": "8101"} and supervised["intake"].env == {}


def test_the_run_command_passes_its_instances_and_refuses_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_run_all(settings, services, *, with_stack, instances=1):
        calls.append((services, with_stack, instances))
        return 0

    monkeypatch.setattr(runner, "run_all", fake_run_all)
    assert CliRunner().invoke(cli, ["run", "--no-stack", "--instances", "3"]).exit_code == 0
    assert CliRunner().invoke(cli, ["run", "--no-stack"]).exit_code == 0
    assert [(with_stack, n) for _, with_stack, n in calls] == [(False, 3), (False, 1)]
    assert "console" not in calls[0][0], "the console is started once, by the runner"
    refused = CliRunner().invoke(cli, ["run", "--instances", "0"])
    assert refused.exit_code == 2 and len(calls) == 2


def test_a_service_with_urgent_lanes_runs_them_in_a_process_of_its_own_above_the_ordinary_work() -> None:
    """`cpnet run`: intake's urgent lanes in `intake-urgent` (its port + 50, CPNET_LANES=urgent, the
    runner's priority); its ordinary work, and every other service's, at nice 5 (CPNET_NICE)."""
    planned = plan_instances(["intake", "audit"], 1, DEFAULT_PORTS.__getitem__, lambda name: name == "intake")
    assert [(i.label, i.port, i.lanes, i.nice) for i in planned] == [
        ("intake", 8001, "ordinary", ORDINARY_NICE),
        ("intake-urgent", 8001 + URGENT_PORT_OFFSET, "urgent", 0),
        ("audit", 8005, "both", ORDINARY_NICE),
        ("console", 8000, "both", 0),
    ]
    envs = {i.label: instance_env(i, {}) for i in planned}
    assert envs == {
        "intake": {"CPNET_LANES": "ordinary", "CPNET_NICE": str(ORDINARY_NICE)},
        "intake-urgent": {"CPNET_LANES": "urgent", "CPNET_INTAKE_PORT": "8051"},
        "audit": {"CPNET_NICE": str(ORDINARY_NICE)},
        "console": {},
    }
    for label, env in envs.items():
        settings = Settings(**{k.removeprefix("CPNET_").lower(): v for k, v in env.items()})
        assert settings.lanes == planned[list(envs).index(label)].lanes


def test_the_services_that_have_urgent_lanes_are_those_on_an_emergency_s_way_to_the_police() -> None:
    from cpnet.registry import definition_of

    assert [name for name in SERVICES if definition_of(name).has_lanes] == [
        "intake",
        "assessment",
        "referral",
    ]
