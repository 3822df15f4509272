"""Run the whole platform as processes under a supervisor: embedded PostgreSQL and broker (unless
external), the SMTP sink, the three services and the gateway. Used by ``suishin up`` and the
end-to-end tests.

The supervisor restarts whatever dies (a service, the SMTP sink, the embedded broker or
PostgreSQL) with exponential backoff, and gives up on one process, loudly, after
:attr:`Stack.MAX_RAPID_FAILURES` failures in a row shortly after starting, leaving the rest
running. A dead service never takes PostgreSQL or the broker down. Every child is started on the
supervisor's own thread with ``PR_SET_PDEATHSIG`` (Linux), so none outlives the supervisor, even
when it is SIGKILLed. The supervisor keeps ``<data dir>/run/state.json`` current (pids, restarts,
readiness) for ``suishin status``, and takes restart requests through ``<data dir>/run/control``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import httpx

from suishin.devstack.embedded import (
    EmbeddedBroker,
    EmbeddedPostgres,
    pdeathsig,
    port_open,
    wait_for_port,
)
from suishin.kit.broker import platform_topics
from suishin.kit.db import ensure_database
from suishin.kit.settings import DEFAULT_BROKER_PORT, DEFAULT_PG_PORT, PlatformSettings

T = TypeVar("T")

POSTGRES = "postgresql"
BROKER = "kafka"
SINK = "smtp-sink"


@dataclass
class ProcessSpec:
    name: str
    module: str
    port: int
    port_env: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def default_specs(base_port: int = 4000, env: Mapping[str, str] | None = None) -> list[ProcessSpec]:
    """The services and the gateway. A port variable (``SUISHIN_GATEWAY_PORT``, ...) in ``env``
    wins over the port derived from ``base_port``."""
    env = env or {}

    def spec(name: str, module: str, offset: int, port_env: str) -> ProcessSpec:
        return ProcessSpec(name, module, int(env.get(port_env) or base_port + offset), port_env)

    return [
        spec("plans", "suishin.plans", 1, "SUISHIN_PLANS_PORT"),
        spec("indicators", "suishin.indicators", 2, "SUISHIN_INDICATORS_PORT"),
        spec("notifications", "suishin.notifications", 3, "SUISHIN_NOTIFICATIONS_PORT"),
        spec("gateway", "suishin.gateway", 0, "SUISHIN_GATEWAY_PORT"),
        spec("web", "suishin.web", 5, "SUISHIN_WEB_PORT"),  # the ward portal
    ]


@dataclass
class RunningProcess:
    name: str
    pid: int
    url: str
    log: str
    state: str = "ready"
    restarts: int = 0
    started: int | None = None  # the kernel's start time of ``pid`` (tells a reused pid apart)
    kind: str = "service"  # service | sink | postgres | broker


@dataclass
class StackState:
    supervisor_pid: int
    database_url: str
    kafka_bootstrap: str
    embedded_postgres: bool
    embedded_broker: bool
    processes: list[RunningProcess] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    supervisor_started: int | None = None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)  # readers never see half a file

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        known = {f.name for f in fields(RunningProcess)}
        try:
            data["processes"] = [
                RunningProcess(**{k: v for k, v in p.items() if k in known})
                for p in data["processes"]
            ]
            return cls(**{k: v for k, v in data.items() if k in {f.name for f in fields(cls)}})
        except (KeyError, TypeError, AttributeError):
            return None  # not a state file this version wrote

    def supervisor_alive(self) -> bool:
        return _same_process(self.supervisor_pid, self.supervisor_started)

    def leftovers(self) -> list[RunningProcess]:
        """Recorded processes that still run (after the supervisor is gone: orphans)."""
        return [p for p in self.processes if _same_process(p.pid, p.started)]


class StackError(RuntimeError):
    pass


@dataclass
class Unit:
    """One supervised process and its restart bookkeeping."""

    name: str
    kind: str
    state: str = "starting"  # starting | ready | backoff | stopping | failed
    restarts: int = 0
    rapid: int = 0  # failures in a row, each soon after its start
    started: float = field(default_factory=time.monotonic)
    next_start: float = 0.0
    next_probe: float = 0.0


class Stack:
    """Starts, supervises and stops the platform. Reads ``SUISHIN_*`` like the services do."""

    RAPID_SECONDS = 30.0  # a process that dies sooner than this after starting failed "rapidly"
    MAX_RAPID_FAILURES = 5  # ... and after this many such failures in a row, it is given up
    BACKOFF_FIRST = 0.5  # seconds before the first restart; doubled each rapid failure
    BACKOFF_MAX = 30.0
    TICK = 0.2

    def __init__(
        self,
        data_dir: Path,
        *,
        base_port: int = 4000,
        env: dict[str, str] | None = None,
        say: Callable[[str], None] = print,
        supervise: bool = True,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.env = dict(os.environ if env is None else env)
        self.say = say
        self.supervise = supervise
        self.specs = default_specs(base_port, self.env)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.postgres: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | None = None
        self.database_url = self.env.get("SUISHIN_DATABASE_URL", "")
        self.kafka_bootstrap = self.env.get("SUISHIN_KAFKA_BOOTSTRAP", "")
        self.pg_port = int(self.env.get("SUISHIN_PG_PORT") or DEFAULT_PG_PORT)
        # E-mail goes to a local SMTP sink (stored as .eml files) unless an SMTP host is set.
        self.smtp_external = "SUISHIN_SMTP_HOST" in self.env
        default_smtp = 2525 if base_port == 4000 else base_port + 4
        self.smtp_port = int(self.env.get("SUISHIN_SMTP_PORT") or default_smtp)
        self.sink: subprocess.Popen[bytes] | None = None
        self.broker_port = int(self.env.get("SUISHIN_BROKER_PORT") or DEFAULT_BROKER_PORT)
        self.units: dict[str, Unit] = {}
        self._requests: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._supervising = False
        self._closing = False
        self._dirty = False
        self._broker_restarts_at_kill = 0
        self._started_at = time.time()

    # -- paths and environment ---------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.data_dir / "run" / "state.json"

    @property
    def control_dir(self) -> Path:
        return self.data_dir / "run" / "control"

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def service_env(self) -> dict[str, str]:
        env = dict(self.env)
        env["SUISHIN_DATABASE_URL"] = self.database_url
        env["SUISHIN_KAFKA_BOOTSTRAP"] = self.kafka_bootstrap
        env["SUISHIN_DATA_DIR"] = str(self.data_dir)
        env["SUISHIN_INTERNAL_KEY"] = self.internal_key()
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

    def internal_key(self) -> str:
        """The key the platform's processes sign internal events and gateway calls with:
        ``SUISHIN_INTERNAL_KEY``, else one generated for this data dir on the first start, so
        that the published development key cannot forge events on a local stack."""
        if self.env.get("SUISHIN_INTERNAL_KEY"):
            return self.env["SUISHIN_INTERNAL_KEY"]
        path = self.data_dir / "run" / "internal.key"
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
        return path.read_text().strip()

    # -- the supervisor thread ---------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the supervisor thread. Every child is started there: the kernel sends
        the parent-death signal when the *thread* that started a child ends, so children must
        come from one thread that lives exactly as long as the supervisor."""
        if threading.current_thread() is self._thread:
            return fn()
        if self._thread is None or not self._thread.is_alive():
            self._closing = False
            self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
            self._thread.start()
        future: Future[T] = Future()
        self._requests.put((fn, future))
        return future.result()

    def supervisor_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        with httpx.Client(timeout=1.0) as client:
            while not self._closing:
                try:
                    fn, future = self._requests.get(timeout=self.TICK)
                except queue.Empty:
                    pass
                else:
                    if future.set_running_or_notify_cancel():
                        try:
                            future.set_result(fn())
                        except BaseException as exc:
                            future.set_exception(exc)
                    if self._closing:
                        break
                if self._supervising:
                    try:
                        self._tick(client)
                    except Exception as exc:  # a bug here must not end supervision
                        self._log(f"supervisor error: {exc!r}")

    def _log(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            self.say(line)
        with contextlib.suppress(OSError):
            self.logs.mkdir(parents=True, exist_ok=True)
            with (self.logs / "supervisor.log").open("a", encoding="utf-8") as log:
                log.write(line + "\n")

    # -- starting ----------------------------------------------------------------------------

    def start_infrastructure(self) -> None:
        existing = StackState.load(self.state_file)
        if existing and existing.supervisor_alive():
            raise StackError(
                f"Suishin already runs (pid {existing.supervisor_pid}); see `suishin status`"
            )
        if existing:
            self._clean_stale(existing)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self._call(self._start_infrastructure)

    def _clean_stale(self, state: StackState) -> None:
        """The state of a supervisor that is gone: stop what it left running (PostgreSQL on
        the data dir is stopped by :meth:`EmbeddedPostgres.start`)."""
        for p in state.leftovers():
            if p.kind == "postgres":
                continue
            self._log(f"stopping {p.name} (pid {p.pid}), left by a supervisor that is gone")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()

    def _start_infrastructure(self) -> None:
        if not self.database_url:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres", port=self.pg_port)
            self.say(
                f"starting embedded PostgreSQL on 127.0.0.1:{self.pg_port} "
                f"(data in {self.postgres.pgdata})"
            )
            self.postgres.start()
            self.units[POSTGRES] = Unit(POSTGRES, "postgres", state="ready")
            self.database_url = self.postgres.url()
        asyncio.run(ensure_database(self.database_url))
        if not self.kafka_bootstrap:
            self.broker = EmbeddedBroker(
                port=self.broker_port,
                log_file=self.logs / "broker.log",
                # created at every (re)start, before producers come back: see EmbeddedBroker
                topics=platform_topics(
                    PlatformSettings(topic_prefix=self.env.get("SUISHIN_TOPIC_PREFIX", ""))
                ),
            )
            self.say(
                f"starting embedded Kafka-compatible broker (tansu) on {self.broker.bootstrap}"
            )
            self.broker.start()
            self.units[BROKER] = Unit(BROKER, "broker", state="ready")
            self.kafka_bootstrap = self.broker.bootstrap
        self._save_state()

    def start_smtp_sink(self) -> None:
        if self.smtp_external:
            return
        if port_open("127.0.0.1", self.smtp_port):
            raise StackError(
                f"port {self.smtp_port} for the SMTP sink is in use; set SUISHIN_SMTP_PORT, "
                "or SUISHIN_SMTP_HOST to use a real mail server"
            )
        self._spawn_sink()
        wait_for_port("127.0.0.1", self.smtp_port, 30)
        self.units[SINK] = Unit(SINK, "sink", state="ready")
        self.say(f"  {'smtp sink':<14} ready  127.0.0.1:{self.smtp_port} → {self.mail_dir}")

    def _spawn_sink(self) -> None:
        self.sink = self._popen(
            [
                sys.executable,
                "-m",
                "suishin.notifications.smtp_sink",
                "--port",
                str(self.smtp_port),
                "--dir",
                str(self.mail_dir),
            ],
            "smtp-sink.log",
        )

    def start_services(self, timeout: float = 90.0) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self._call(self.start_smtp_sink)
        for spec in self.specs:
            self._call(functools.partial(self._spawn, spec, check_port=True))
            self.units[spec.name] = Unit(spec.name, "service")
        self.wait_ready(timeout)
        self._supervising = self.supervise
        self._call(self._save_state)

    def _popen(self, argv: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with (self.logs / log_name).open("ab") as log:
            return subprocess.Popen(
                argv,
                env=self.service_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=pdeathsig(signal.SIGKILL),
            )

    def _spawn(self, spec: ProcessSpec, *, check_port: bool = False) -> None:
        if check_port and port_open("127.0.0.1", spec.port):
            raise StackError(f"port {spec.port} for {spec.name} is already in use")
        self.children[spec.name] = self._popen(
            [sys.executable, "-m", spec.module], f"{spec.name}.log"
        )

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
                            if name in self.units:
                                self.units[name].state = "ready"
                            del pending[name]
                if pending and time.monotonic() > deadline:
                    names = ", ".join(pending)
                    raise StackError(f"not ready after {timeout:.0f}s: {names}")
                time.sleep(0.2)

    # -- supervision -------------------------------------------------------------------------

    def _tick(self, client: httpx.Client) -> None:
        now = time.monotonic()
        for unit in list(self.units.values()):
            if unit.state in ("starting", "ready"):
                code = self._exit_code(unit)
                if code is not None:
                    self._on_exit(unit, code)
            if unit.state == "backoff" and now >= unit.next_start:
                self._relaunch(unit, reason="restarting")
            if unit.state == "starting" and time.monotonic() >= unit.next_probe:
                unit.next_probe = time.monotonic() + 0.25
                if self._probe(unit, client):
                    unit.state = "ready"
                    self._dirty = True
                    self._log(f"{unit.name} ready again (pid {self._pid(unit)})")
        self._handle_control_requests()
        if self._dirty:
            self._save_state()

    def _exit_code(self, unit: Unit) -> int | None:
        if unit.kind == "postgres" and self.postgres is not None:
            with self.postgres.lock:
                return self.postgres.process.returncode if self.postgres.died() else None  # type: ignore[union-attr]
        if unit.kind == "broker" and self.broker is not None:
            with self.broker.lock:
                return self.broker.process.returncode if self.broker.died() else None  # type: ignore[union-attr]
        proc = self.sink if unit.kind == "sink" else self.children.get(unit.name)
        return None if proc is None else proc.poll()

    def _on_exit(self, unit: Unit, code: int | None, error: str = "") -> None:
        lived = time.monotonic() - unit.started
        unit.rapid = unit.rapid + 1 if lived < self.RAPID_SECONDS else 1
        self._dirty = True
        if code is None:
            how = f"could not start ({error})"
        elif code < 0:
            how = f"was killed by {signal.Signals(-code).name} after {lived:.1f}s"
        else:
            how = f"exited with code {code} after {lived:.1f}s"
        log = self._log_path(unit)
        if unit.rapid >= self.MAX_RAPID_FAILURES:
            unit.state = "failed"
            self._log(
                f"ERROR: {unit.name} {how}: {unit.rapid} failures in a row, each within "
                f"{self.RAPID_SECONDS:.0f}s of starting. Giving up on {unit.name}; everything "
                f"else keeps running. See {log}; `suishin restart {unit.name}` tries again."
            )
            return
        delay = min(self.BACKOFF_FIRST * 2 ** (unit.rapid - 1), self.BACKOFF_MAX)
        unit.state = "backoff"
        unit.next_start = time.monotonic() + delay
        self._log(f"{unit.name} {how}; restarting it in {delay:.1f}s (log: {log})")

    def _relaunch(self, unit: Unit, *, reason: str) -> None:
        unit.restarts += 1
        unit.started = time.monotonic()
        unit.next_probe = 0.0
        self._dirty = True
        try:
            self._launch(unit)
        except Exception as exc:
            self._on_exit(unit, None, str(exc).strip().splitlines()[0] if str(exc) else repr(exc))
            return
        # PostgreSQL and the broker are ready when start() returns; services are probed.
        unit.state = "ready" if unit.kind in ("postgres", "broker") else "starting"
        detail = ""
        if unit.kind == "broker":
            detail = " (empty: the broker keeps nothing across a restart)"
        self._log(f"{reason} {unit.name}: restart {unit.restarts}, pid {self._pid(unit)}{detail}")

    def _launch(self, unit: Unit) -> None:
        if unit.kind == "postgres" and self.postgres is not None:
            self.postgres.start()
        elif unit.kind == "broker" and self.broker is not None:
            self.broker.start()
        elif unit.kind == "sink":
            self._spawn_sink()
        else:
            self._spawn(next(s for s in self.specs if s.name == unit.name))

    def _probe(self, unit: Unit, client: httpx.Client) -> bool:
        if unit.kind == "sink":
            return port_open("127.0.0.1", self.smtp_port)
        spec = next(s for s in self.specs if s.name == unit.name)
        with contextlib.suppress(httpx.HTTPError):
            return client.get(f"{spec.base_url}/readyz").status_code == 200
        return False

    def _pid(self, unit: Unit) -> int | None:
        if unit.kind == "postgres":
            return self.postgres.pid if self.postgres else None
        if unit.kind == "broker":
            return self.broker.pid if self.broker else None
        proc = self.sink if unit.kind == "sink" else self.children.get(unit.name)
        return proc.pid if proc is not None else None

    def _restart_now(self, name: str) -> int:
        """Stop one service (or the SMTP sink) if it runs and start it again at once; forgets
        earlier failures, so a service given up on gets a fresh chance."""
        unit = self.units.get(name)
        if unit is None or unit.kind not in ("service", "sink"):
            names = ", ".join(u.name for u in self.units.values() if u.kind in ("service", "sink"))
            raise StackError(f"no service {name!r} to restart; one of: {names}")
        unit.state = "stopping"
        proc = self.sink if unit.kind == "sink" else self.children.get(name)
        if proc is not None:
            _terminate([proc])
        port = self.smtp_port if unit.kind == "sink" else self._spec(name).port
        deadline = time.monotonic() + 10
        while port_open("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.05)
        unit.rapid = 0
        self._relaunch(unit, reason="restarting on request")
        pid = self._pid(unit)
        if unit.state in ("backoff", "failed") or pid is None:
            raise StackError(f"{name} did not start again; see {self._log_path(unit)}")
        return pid

    def _log_path(self, unit: Unit) -> Path:
        if unit.kind == "postgres":
            return self.data_dir / "postgres" / "postgres.log"
        return self.logs / f"{'broker' if unit.kind == 'broker' else unit.name}.log"

    def _spec(self, name: str) -> ProcessSpec:
        return next(s for s in self.specs if s.name == name)

    def _handle_control_requests(self) -> None:
        if not self.control_dir.is_dir():
            return
        for request in sorted(self.control_dir.glob("*.request")):
            done = request.with_suffix(".done")
            try:
                name = json.loads(request.read_text())["restart"]
                result: dict[str, Any] = {"ok": True, "pid": self._restart_now(str(name))}
            except Exception as exc:
                result = {"ok": False, "error": str(exc)}
            with contextlib.suppress(FileNotFoundError):
                request.unlink()
            tmp = done.with_suffix(".tmp")
            tmp.write_text(json.dumps(result))
            os.replace(tmp, done)
            self._save_state()

    def _save_state(self) -> None:
        self._dirty = False
        processes = []
        for unit in self.units.values():
            pid = self._pid(unit)
            if pid is None:
                continue
            if unit.kind == "postgres":
                url = self.database_url
            elif unit.kind == "broker":
                url = self.kafka_bootstrap
            elif unit.kind == "sink":
                url = f"smtp://127.0.0.1:{self.smtp_port}"
            else:
                url = self._spec(unit.name).base_url
            processes.append(
                RunningProcess(
                    unit.name,
                    pid,
                    url,
                    str(self._log_path(unit)),
                    state=unit.state,
                    restarts=unit.restarts,
                    started=_proc_start(pid),
                    kind=unit.kind,
                )
            )
        StackState(
            supervisor_pid=os.getpid(),
            supervisor_started=_proc_start(os.getpid()),
            database_url=self.database_url,
            kafka_bootstrap=self.kafka_bootstrap,
            embedded_postgres=self.postgres is not None,
            embedded_broker=self.broker is not None,
            processes=processes,
            started_at=self._started_at,
        ).save(self.state_file)

    # -- faults and restarts (tests, bench/faults.py, `suishin restart`) ---------------------

    def kill_service(self, name: str) -> None:
        """SIGKILL one service, as a crash would; the supervisor restarts it
        (:meth:`wait_unit_ready` waits for that)."""

        def kill() -> None:
            proc = self.children[name]
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            self._noticed_exit(name, proc.returncode)

        self._call(kill)

    def _noticed_exit(self, name: str, code: int) -> None:
        unit = self.units.get(name)
        if unit is not None and unit.state in ("starting", "ready"):
            self._on_exit(unit, code)

    def restart_service(self, name: str, timeout: float = 90.0) -> None:
        """Restart one service now (or bring it back now if it died) and wait until ready."""
        self._call(lambda: self._restart_now(name))
        self.wait_unit_ready(name, timeout)

    def wait_unit_ready(self, name: str, timeout: float = 90.0) -> None:
        if not self._supervising:
            self.wait_ready(timeout, only={name})
            return
        deadline = time.monotonic() + timeout
        while (state := self.units[name].state) != "ready":
            if state == "failed":
                raise StackError(f"{name} failed to start:\n{self.log_tail(name)}")
            if time.monotonic() > deadline:
                raise StackError(f"{name} not ready after {timeout:.0f}s ({state})")
            time.sleep(0.05)

    def kill_broker(self) -> int:
        """SIGKILL the embedded broker, as a crash would: it comes back empty on the same port.
        Returns its restart count before the kill, for :meth:`wait_broker_restarted`."""
        broker = self.broker
        if broker is None or broker.process is None:
            raise StackError("no embedded broker runs")

        def kill() -> None:
            with broker.lock:
                assert broker.process is not None
                self._broker_restarts_at_kill = self.units[BROKER].restarts
                broker.process.kill()
                self._noticed_exit(BROKER, broker.process.wait())

        self._call(kill)
        return self._broker_restarts_at_kill

    def wait_broker_restarted(self, since: int | None = None, timeout: float = 60.0) -> None:
        """Wait until the supervisor has restarted the broker (after :meth:`kill_broker`)."""
        since = self._broker_restarts_at_kill if since is None else since
        deadline = time.monotonic() + timeout
        unit = self.units[BROKER]
        while not (unit.restarts > since and unit.state == "ready"):
            if unit.state == "failed" or time.monotonic() > deadline:
                raise StackError(f"the broker did not come back ({unit.state})")
            time.sleep(0.05)

    @property
    def restarts(self) -> dict[str, int]:
        return {name: unit.restarts for name, unit in self.units.items()}

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- stopping ----------------------------------------------------------------------------

    def stop(self) -> None:
        self._supervising = False
        if self.supervisor_alive():
            self._call(self._stop_all)
            assert self._thread is not None
            self._thread.join(10)
        else:
            self._stop_all()

    def _stop_all(self) -> None:
        self._closing = True
        self._supervising = False
        _terminate([*self.children.values(), *([self.sink] if self.sink else [])])
        self.children.clear()
        self.sink = None
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()


def _terminate(procs: list[subprocess.Popen[bytes]], grace: float = 15.0) -> None:
    """SIGTERM each process group, SIGKILL what is left after ``grace`` seconds."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _proc_start(pid: int) -> int | None:
    """The kernel's start time of a process (Linux), to tell a reused pid from the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _same_process(pid: int, started: int | None) -> bool:
    if not _alive(pid):
        return False
    if started is None:
        return True
    now = _proc_start(pid)
    return now is None or now == started


def running_state(data_dir: Path) -> StackState | None:
    """The state of the supervisor running on ``data_dir``, or None."""
    state = StackState.load(data_dir.resolve() / "run" / "state.json")
    return state if state is not None and state.supervisor_alive() else None


def status(data_dir: Path) -> tuple[bool, list[tuple[str, str, str]]]:
    """(all up, rows of name/state/detail) for `suishin status`. A state file left by a
    supervisor that is gone is removed (or its orphans, if any still run, reported)."""
    state_file = data_dir.resolve() / "run" / "state.json"
    state = StackState.load(state_file)
    if state is None:
        return False, [("suishin", "stopped", "not running (start it with `suishin up`)")]
    if not state.supervisor_alive():
        leftovers = state.leftovers()
        if leftovers:
            gone = f"the supervisor (pid {state.supervisor_pid}) is gone"
            orphans = [
                (p.name, "orphan", f"pid {p.pid} still runs; `suishin up` stops it")
                for p in leftovers
            ]
            return False, [("suishin", "stopped", gone), *orphans]
        with contextlib.suppress(FileNotFoundError):
            state_file.unlink()
        return False, [
            (
                "suishin",
                "stopped",
                f"not running (removed the stale state of supervisor pid {state.supervisor_pid})",
            )
        ]
    uptime = time.time() - state.started_at
    rows: list[tuple[str, str, str]] = [
        ("supervisor", "running", f"pid {state.supervisor_pid}, up {uptime:.0f}s")
    ]
    ok = True
    if not state.embedded_postgres:
        rows.append((POSTGRES, "external", _redact(state.database_url)))
    if not state.embedded_broker:
        rows.append((BROKER, "external", state.kafka_bootstrap))
    with httpx.Client(timeout=3.0) as client:
        for p in state.processes:
            detail = f"pid {p.pid}, restarts {p.restarts}, {_redact(p.url)}"
            if p.kind in ("postgres", "broker"):
                detail = f"embedded, {detail}"
            alive = _same_process(p.pid, p.started)
            if p.state == "failed":
                rows.append((p.name, "failed", f"{detail}; gave up, see {p.log}"))
                ok = False
            elif p.state in ("backoff", "stopping") or not alive:
                rows.append((p.name, "restarting", detail))
                ok = False
            elif p.kind != "service":
                rows.append((p.name, p.state, detail))
                ok &= p.state == "ready"
            else:
                try:
                    r = client.get(f"{p.url}/readyz")
                except httpx.HTTPError as exc:
                    rows.append((p.name, "starting", f"{detail} ({type(exc).__name__})"))
                    ok = False
                    continue
                ready = r.status_code == 200
                extra = "" if ready else f"; {_not_ready(r)}"
                rows.append((p.name, "ready" if ready else "degraded", detail + extra))
                ok &= ready
    return ok, rows


def _not_ready(r: httpx.Response) -> str:
    """What /readyz says is wrong (e.g. a stalled consumer and its lag), else its text."""
    with contextlib.suppress(ValueError, AttributeError):
        problems = r.json().get("problems")
        if problems:
            return "; ".join(str(p) for p in problems)[:400]
    return r.text[:120]


def request_restart(data_dir: Path, name: str, timeout: float = 120.0) -> int:
    """Ask the supervisor running on ``data_dir`` to restart one service; wait until it is ready
    again. Returns the new pid."""
    state = running_state(data_dir)
    if state is None:
        raise StackError("Suishin does not run here (start it with `suishin up`)")
    control = data_dir.resolve() / "run" / "control"
    control.mkdir(parents=True, exist_ok=True)
    rid = uuid.uuid4().hex
    tmp = control / f".{rid}.tmp"
    tmp.write_text(json.dumps({"restart": name}))
    os.replace(tmp, control / f"{rid}.request")
    done = control / f"{rid}.done"
    deadline = time.monotonic() + timeout
    while not done.exists():
        if not state.supervisor_alive():
            raise StackError("the supervisor stopped")
        if time.monotonic() > deadline:
            raise StackError(f"the supervisor did not take the request in {timeout:.0f}s")
        time.sleep(0.05)
    result = json.loads(done.read_text())
    done.unlink()
    if not result["ok"]:
        raise StackError(result["error"])
    pid = int(result["pid"])
    while True:
        current = StackState.load(data_dir.resolve() / "run" / "state.json")
        proc = next((p for p in current.processes if p.name == name), None) if current else None
        if proc is not None and proc.pid == pid and proc.state == "ready":
            return pid
        if current is None or not current.supervisor_alive():
            raise StackError("the supervisor stopped")
        # Only the new process counts: the state file may still describe the one given up on.
        if proc is not None and proc.pid == pid and proc.state == "failed":
            raise StackError(f"{name} failed to start again; see {proc.log}")
        if time.monotonic() > deadline:
            raise StackError(f"{name} not ready after {timeout:.0f}s")
        time.sleep(0.1)


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
