"""Run the whole platform as processes: embedded PostgreSQL and broker (unless external),
the three services and the gateway. Used by ``suishin up`` and the end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from suishin.kit.db import ensure_database
from suishin.kit.embedded import EmbeddedBroker, EmbeddedPostgres, port_open, wait_for_port


@dataclass
class ProcessSpec:
    name: str
    module: str
    port: int
    port_env: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def default_specs(base_port: int = 4000) -> list[ProcessSpec]:
    return [
        ProcessSpec("plans", "suishin.plans", base_port + 1, "SUISHIN_PLANS_PORT"),
        ProcessSpec("indicators", "suishin.indicators", base_port + 2, "SUISHIN_INDICATORS_PORT"),
        ProcessSpec(
            "notifications", "suishin.notifications", base_port + 3, "SUISHIN_NOTIFICATIONS_PORT"
        ),
        ProcessSpec("gateway", "suishin.gateway", base_port, "SUISHIN_GATEWAY_PORT"),
        ProcessSpec("web", "suishin.web", base_port + 5, "SUISHIN_WEB_PORT"),  # the ward portal
    ]


@dataclass
class RunningProcess:
    name: str
    pid: int
    url: str
    log: str


@dataclass
class StackState:
    supervisor_pid: int
    database_url: str
    kafka_bootstrap: str
    embedded_postgres: bool
    embedded_broker: bool
    processes: list[RunningProcess] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["processes"] = [RunningProcess(**p) for p in data["processes"]]
        return cls(**data)


class StackError(RuntimeError):
    pass


class Stack:
    """Starts and stops the platform. Reads ``SUISHIN_*`` like the services do."""

    def __init__(
        self,
        data_dir: Path,
        *,
        base_port: int = 4000,
        env: dict[str, str] | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.env = dict(os.environ if env is None else env)
        self.say = say
        self.specs = default_specs(base_port)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.postgres: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | None = None
        self.database_url = self.env.get("SUISHIN_DATABASE_URL", "")
        self.kafka_bootstrap = self.env.get("SUISHIN_KAFKA_BOOTSTRAP", "")
        self.pg_port = int(self.env.get("SUISHIN_PG_PORT", "54329"))
        # E-mail goes to a local SMTP sink (stored as .eml files) unless an SMTP host is set.
        self.smtp_external = "SUISHIN_SMTP_HOST" in self.env
        default_smtp = 2525 if base_port == 4000 else base_port + 4
        self.smtp_port = int(self.env.get("SUISHIN_SMTP_PORT", str(default_smtp)))
        self.sink: subprocess.Popen[bytes] | None = None
        self.broker_port = int(self.env.get("SUISHIN_BROKER_PORT", "19092"))

    @property
    def state_file(self) -> Path:
        return self.data_dir / "run" / "state.json"

    def service_env(self) -> dict[str, str]:
        env = dict(self.env)
        env["SUISHIN_DATABASE_URL"] = self.database_url
        env["SUISHIN_KAFKA_BOOTSTRAP"] = self.kafka_bootstrap
        env["SUISHIN_DATA_DIR"] = str(self.data_dir)
        if not self.smtp_external:
            env["SUISHIN_SMTP_HOST"] = "127.0.0.1"
            env["SUISHIN_SMTP_PORT"] = str(self.smtp_port)
        for spec in self.specs:
            env[spec.port_env] = str(spec.port)
        gw = {s.name: s for s in self.specs}
        env["SUISHIN_PLANS_URL"] = f"{gw['plans'].base_url}/graphql"
        env["SUISHIN_INDICATORS_URL"] = f"{gw['indicators'].base_url}/graphql"
        env["SUISHIN_NOTIFICATIONS_URL"] = f"{gw['notifications'].base_url}/graphql"
        env.setdefault("SUISHIN_PORTAL_URL", gw["web"].base_url)  # links in e-mails
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start_infrastructure(self) -> None:
        existing = StackState.load(self.state_file)
        if existing and _alive(existing.supervisor_pid):
            raise StackError(
                f"Suishin already runs (pid {existing.supervisor_pid}); see `suishin status`"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.database_url:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres", port=self.pg_port)
            self.say(
                f"starting embedded PostgreSQL on 127.0.0.1:{self.pg_port} "
                f"(data in {self.postgres.pgdata})"
            )
            self.postgres.start()
            self.database_url = self.postgres.url()
        asyncio.run(ensure_database(self.database_url))
        if not self.kafka_bootstrap:
            self.broker = EmbeddedBroker(
                port=self.broker_port, log_file=self.data_dir / "logs" / "broker.log"
            )
            (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
            self.say(
                f"starting embedded Kafka-compatible broker (tansu) on {self.broker.bootstrap}"
            )
            self.broker.start()
            self.kafka_bootstrap = self.broker.bootstrap

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def start_smtp_sink(self, logs: Path, env: dict[str, str]) -> None:
        if self.smtp_external:
            return
        if port_open("127.0.0.1", self.smtp_port):
            raise StackError(
                f"port {self.smtp_port} for the SMTP sink is in use; set SUISHIN_SMTP_PORT, "
                "or SUISHIN_SMTP_HOST to use a real mail server"
            )
        log = (logs / "smtp-sink.log").open("ab")
        self.sink = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "suishin.notifications.smtp_sink",
                "--port",
                str(self.smtp_port),
                "--dir",
                str(self.mail_dir),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port("127.0.0.1", self.smtp_port, 30)
        self.say(f"  {'smtp sink':<14} ready  127.0.0.1:{self.smtp_port} → {self.mail_dir}")

    def start_services(self, timeout: float = 90.0) -> None:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.start_smtp_sink(logs, self.service_env())
        for spec in self.specs:
            self._spawn(spec)
        self.wait_ready(timeout)
        self._save_state()

    def _save_state(self) -> None:
        logs = self.data_dir / "logs"
        StackState(
            supervisor_pid=os.getpid(),
            database_url=self.database_url,
            kafka_bootstrap=self.kafka_bootstrap,
            embedded_postgres=self.postgres is not None,
            embedded_broker=self.broker is not None,
            processes=[
                RunningProcess(
                    s.name, self.children[s.name].pid, s.base_url, str(logs / f"{s.name}.log")
                )
                for s in self.specs
            ],
        ).save(self.state_file)

    def _spawn(self, spec: ProcessSpec) -> None:
        if port_open("127.0.0.1", spec.port):
            raise StackError(f"port {spec.port} for {spec.name} is already in use")
        log = (self.data_dir / "logs" / f"{spec.name}.log").open("ab")
        self.children[spec.name] = subprocess.Popen(
            [sys.executable, "-m", spec.module],
            env=self.service_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_service(self, name: str) -> None:
        """SIGKILL one service, as a crash would (used by the fault tests)."""
        proc = self.children[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def restart_service(self, name: str, timeout: float = 90.0) -> None:
        spec = next(s for s in self.specs if s.name == name)
        deadline = time.monotonic() + 10
        while port_open("127.0.0.1", spec.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._spawn(spec)
        self.wait_ready(timeout, only={name})
        self._save_state()

    def wait_ready(self, timeout: float, only: set[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        pending = {s.name: s for s in self.specs if only is None or s.name in only}
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name, spec in list(pending.items()):
                    proc = self.children[name]
                    if proc.poll() is not None:
                        raise StackError(
                            f"{name} exited with code {proc.returncode}:\n{self.log_tail(name)}"
                        )
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{spec.base_url}/readyz").status_code == 200:
                            self.say(f"  {name:<14} ready  {spec.base_url}/graphql")
                            del pending[name]
                if pending and time.monotonic() > deadline:
                    names = ", ".join(pending)
                    raise StackError(f"not ready after {timeout:.0f}s: {names}")
                time.sleep(0.2)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.data_dir / "logs" / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        procs = list(self.children.values()) + ([self.sink] if self.sink else [])
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.children.clear()
        self.sink = None
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status(data_dir: Path) -> tuple[bool, list[tuple[str, str, str]]]:
    """(all up, rows of name/state/detail) for `suishin status`."""
    state = StackState.load(data_dir.resolve() / "run" / "state.json")
    if state is None or not _alive(state.supervisor_pid):
        return False, [("suishin", "stopped", "not running (start it with `suishin up`)")]
    rows: list[tuple[str, str, str]] = []
    ok = True
    pg = "embedded" if state.embedded_postgres else "external"
    kafka = "embedded tansu" if state.embedded_broker else "external"
    rows.append(("postgresql", pg, _redact(state.database_url)))
    rows.append(("kafka", kafka, state.kafka_bootstrap))
    with httpx.Client(timeout=3.0) as client:
        for p in state.processes:
            if not _alive(p.pid):
                rows.append((p.name, "dead", f"pid {p.pid}; log {p.log}"))
                ok = False
                continue
            try:
                r = client.get(f"{p.url}/readyz")
                ready = r.status_code == 200
                detail = f"{p.url}/graphql (pid {p.pid})"
                rows.append((p.name, "ready" if ready else f"degraded {_not_ready(r)}", detail))
                ok &= ready
            except httpx.HTTPError as exc:
                rows.append((p.name, "unreachable", repr(exc)))
                ok = False
    return ok, rows


def _not_ready(r: httpx.Response) -> str:
    """What /readyz says is wrong (e.g. a stalled consumer and its lag), else its text."""
    with contextlib.suppress(ValueError, AttributeError):
        problems = r.json().get("problems")
        if problems:
            return "; ".join(str(p) for p in problems)[:400]
    return r.text[:120]


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
