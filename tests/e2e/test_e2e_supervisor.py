"""`suishin up` is a supervisor: a dead service is restarted and nothing else stops; signals stop
everything; nothing it started outlives it, even a SIGKILL of the supervisor; `suishin status`
tells the truth; `suishin restart` restarts one service; every port setting is honoured.

Each test runs the real `suishin up` (its own embedded PostgreSQL and broker) as a process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from suishin.cli.stack import RunningProcess, StackState, _same_process
from suishin.devstack.testing import wait_until
from suishin.kit.settings import PlatformSettings

from .conftest import free_port_block

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
SERVICE_PORTS = {  # offsets in the port block; deliberately not what --base-port would give
    "SUISHIN_GATEWAY_PORT": 7,
    "SUISHIN_PLANS_PORT": 6,
    "SUISHIN_INDICATORS_PORT": 5,
    "SUISHIN_NOTIFICATIONS_PORT": 4,
    "SUISHIN_SMTP_PORT": 3,
    "SUISHIN_PG_PORT": 2,
    "SUISHIN_BROKER_PORT": 1,
    "SUISHIN_WEB_PORT": 0,
}


@dataclass
class Up:
    """One data dir and its ports; `suishin up` processes started on them."""

    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def state_file(self) -> Path:
        return self.data_dir / "run" / "state.json"

    def state(self) -> StackState:
        state = StackState.load(self.state_file)
        assert state is not None, "no state file"
        return state

    def proc(self, name: str) -> RunningProcess:
        return next(p for p in self.state().processes if p.name == name)

    def port(self, variable: str) -> int:
        return int(self.env[variable])

    def cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "suishin.cli.main", *args],
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    def spawn(self) -> None:
        log = (self.data_dir.parent / "up.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "suishin.cli.main", "up", "--no-demo"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    async def start(self) -> None:
        self.spawn()

        async def ready() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log()
            state = StackState.load(self.state_file)
            return bool(
                state
                and len(state.processes) == 8
                and all(p.state == "ready" for p in state.processes)
            )

        await wait_until(ready, timeout=180, interval=0.2, message="suishin up to be ready")

    def log(self) -> str:
        return (self.data_dir.parent / "up.log").read_text(errors="replace")[-3000:]

    def supervisor_log(self) -> str:
        return (self.data_dir / "logs" / "supervisor.log").read_text()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def alive(processes: list[RunningProcess]) -> list[str]:
    return [p.name for p in processes if _same_process(p.pid, p.started)]


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = tmp_path_factory.mktemp("supervised")
    base = free_port_block(8)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUISHIN_")}
    env.update({k: str(base + offset) for k, offset in SERVICE_PORTS.items()})
    env.update(
        {
            "SUISHIN_DATA_DIR": str(root / "data"),
            "SUISHIN_LOG_JSON": "false",
            "SUISHIN_RELAY_POLL_INTERVAL": "0.1",
        }
    )
    up = Up(root / "data", env)
    try:
        yield up
    finally:
        up.kill()  # the children follow it


@pytest.fixture(scope="module")
async def running(instance: Up) -> Up:
    await instance.start()
    return instance


async def test_every_port_setting_is_honoured_by_up(running: Up) -> None:
    for name, variable in (
        ("gateway", "SUISHIN_GATEWAY_PORT"),
        ("plans", "SUISHIN_PLANS_PORT"),
        ("indicators", "SUISHIN_INDICATORS_PORT"),
        ("notifications", "SUISHIN_NOTIFICATIONS_PORT"),
        ("web", "SUISHIN_WEB_PORT"),
    ):
        url = f"http://127.0.0.1:{running.port(variable)}"
        assert running.proc(name).url == url
        async with httpx.AsyncClient(timeout=5) as client:
            assert (await client.get(f"{url}/readyz")).status_code == 200
    assert running.state().database_url.endswith(f":{running.port('SUISHIN_PG_PORT')}/suishin")
    assert running.state().kafka_bootstrap == f"127.0.0.1:{running.port('SUISHIN_BROKER_PORT')}"
    status = running.cli("status")
    assert status.returncode == 0, status.stdout
    for name in ("postgresql", "kafka", "smtp-sink", "plans", "indicators", "gateway"):
        assert any(line.split()[:2] == [name, "ready"] for line in status.stdout.splitlines())


async def test_a_killed_service_is_restarted_and_nothing_else_stops(running: Up) -> None:
    before = {p.name: p for p in running.state().processes}
    os.kill(before["indicators"].pid, signal.SIGKILL)

    async def restarted() -> bool:
        p = running.proc("indicators")
        return p.pid != before["indicators"].pid and p.state == "ready"

    await wait_until(restarted, timeout=120, message="indicators restarted and ready")
    after = {p.name: p for p in running.state().processes}
    assert after["indicators"].restarts == 1
    for name in ("postgresql", "kafka", "smtp-sink", "plans", "notifications", "gateway"):
        assert after[name].pid == before[name].pid, name
        assert after[name].restarts == 0, name
    assert sorted(alive(list(after.values()))) == sorted(after)
    assert "indicators was killed by SIGKILL" in running.supervisor_log()
    status = running.cli("status")
    assert status.returncode == 0, status.stdout
    assert "restarts 1" in next(s for s in status.stdout.splitlines() if s.startswith("indicators"))


async def test_suishin_restart_restarts_one_service(running: Up) -> None:
    before = {p.name: p.pid for p in running.state().processes}
    result = running.cli("restart", "indicators")
    assert result.returncode == 0, result.stdout + result.stderr
    after = running.proc("indicators")
    assert after.pid != before["indicators"] and after.state == "ready"
    assert f"pid {after.pid}" in result.stdout
    assert {p.name: p.pid for p in running.state().processes if p.name != "indicators"} == {
        k: v for k, v in before.items() if k != "indicators"
    }
    unknown = running.cli("restart", "nope")
    assert unknown.returncode == 1 and "no service 'nope'" in unknown.stderr


async def test_a_service_failing_repeatedly_is_given_up_loudly_and_the_rest_runs(
    running: Up,
) -> None:
    sink = running.proc("smtp-sink")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        os.kill(sink.pid, signal.SIGKILL)

        async def port_free() -> bool:
            try:
                squatter.bind(("127.0.0.1", running.port("SUISHIN_SMTP_PORT")))
            except OSError:
                return False
            squatter.listen()
            return True

        await wait_until(port_free, timeout=10, message="the sink's port to be free")

        async def given_up() -> bool:
            return running.proc("smtp-sink").state == "failed"

        await wait_until(given_up, timeout=120, message="the supervisor to give up on the sink")
    assert "Giving up on smtp-sink" in running.supervisor_log()
    status = running.cli("status")
    assert status.returncode == 1
    assert ["smtp-sink", "failed"] in [line.split()[:2] for line in status.stdout.splitlines()]
    others = [p for p in running.state().processes if p.name != "smtp-sink"]
    assert all(p.state == "ready" for p in others) and alive(others) == [p.name for p in others]
    # An operator fixes the cause and asks for it again.
    result = running.cli("restart", "smtp-sink")
    assert result.returncode == 0, result.stdout + result.stderr
    assert running.proc("smtp-sink").state == "ready"


async def test_the_embedded_broker_and_postgresql_are_restarted_on_their_ports(
    running: Up,
) -> None:
    before = {p.name: p for p in running.state().processes}
    for name in ("kafka", "postgresql"):
        os.kill(before[name].pid, signal.SIGKILL)

        async def back(name: str = name) -> bool:
            p = running.proc(name)
            return p.pid != before[name].pid and p.state == "ready" and p.restarts == 1

        await wait_until(back, timeout=120, message=f"{name} restarted")
    state = running.state()
    assert state.kafka_bootstrap == f"127.0.0.1:{running.port('SUISHIN_BROKER_PORT')}"
    url = PlatformSettings(pg_port=running.port("SUISHIN_PG_PORT")).database_url
    assert state.database_url == url
    conn = await asyncpg.connect(url)
    await conn.close()
    assert "kafka was killed by SIGKILL" in running.supervisor_log()
    assert "postgresql was killed by SIGKILL" in running.supervisor_log()

    async def all_ready() -> bool:
        return running.cli("status").returncode == 0

    await wait_until(all_ready, timeout=120, interval=0.5, message="every process ready")


async def test_cli_commands_honour_the_port_settings(running: Up) -> None:
    # Another data dir (no state file there): only SUISHIN_PG_PORT / SUISHIN_BROKER_PORT lead
    # the commands to this instance's database and broker.
    env = dict(running.env, SUISHIN_DATA_DIR=str(running.data_dir.parent / "elsewhere"))
    itabashi = str(DATASETS / "directory" / "itabashi.yaml")
    directory = running.cli("directory", "import", itabashi, env=env)
    assert directory.returncode == 0, directory.stdout + directory.stderr
    replay = running.cli("replay", "--minutes", "5", env=env)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "notifications" in replay.stdout
    # No URL nor port variable: the commands read the running instance's URLs from the state
    # file in SUISHIN_DATA_DIR.
    env = {
        k: v for k, v in running.env.items() if k not in ("SUISHIN_PG_PORT", "SUISHIN_BROKER_PORT")
    }
    bunkyo = str(DATASETS / "directory" / "bunkyo.yaml")
    directory = running.cli("directory", "import", bunkyo, env=env)
    assert directory.returncode == 0, directory.stdout + directory.stderr
    url = PlatformSettings(pg_port=running.port("SUISHIN_PG_PORT")).database_url
    conn = await asyncpg.connect(url)
    try:
        tenants = await conn.fetch("select distinct tenant from notifications.people")
        assert {r["tenant"] for r in tenants} >= {"itabashi", "bunkyo"}
    finally:
        await conn.close()


def test_the_default_urls_follow_the_port_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUISHIN_DATABASE_URL", raising=False)
    monkeypatch.delenv("SUISHIN_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("SUISHIN_PG_PORT", "15432")
    monkeypatch.setenv("SUISHIN_BROKER_PORT", "19999")
    settings = PlatformSettings()
    assert settings.database_url == "postgresql://postgres@127.0.0.1:15432/suishin"
    assert settings.kafka_bootstrap == "127.0.0.1:19999"
    monkeypatch.setenv("SUISHIN_DATABASE_URL", "postgresql://db.example/suishin")
    assert PlatformSettings().database_url == "postgresql://db.example/suishin"


async def test_children_do_not_outlive_a_sigkilled_supervisor(running: Up) -> None:
    processes = running.state().processes
    assert len(alive(processes)) == 8
    running.kill()  # SIGKILL: no handler runs, no clean-up code

    async def all_gone() -> bool:
        return not alive(processes)

    await wait_until(all_gone, timeout=60, message=f"orphans {alive(processes)} to exit")
    status = running.cli("status")
    assert status.returncode == 1 and "not running" in status.stdout, status.stdout
    assert not running.state_file.exists()  # the stale state was cleaned


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
async def test_a_signal_stops_everything_and_up_starts_again_on_the_same_ports(
    instance: Up, sig: signal.Signals
) -> None:
    await instance.start()  # same data dir and ports as the instance killed above
    processes = instance.state().processes
    assert instance.process is not None
    instance.process.send_signal(sig)
    assert instance.process.wait(60) == 0, instance.log()
    assert not alive(processes), alive(processes)
    assert not instance.state_file.exists()
    assert "stopped." in instance.log()
