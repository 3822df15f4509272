"""A local SMTP sink (aiosmtpd) for the embedded default and tests: every message received is
stored as an ``.eml`` file.

    python -m suishin.notifications.smtp_sink --port 2525 --dir .suishin/mail
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)


class MailSink:
    """aiosmtpd handler writing each message to ``directory`` (and keeping it in memory)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.messages: list[tuple[str, list[str], bytes]] = []
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        sender = str(envelope.mail_from or "")
        recipients = [str(r) for r in envelope.rcpt_tos]
        self.messages.append((sender, recipients, content))
        if self.directory is not None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            path.write_bytes(content)
            log.info("stored message", extra={"path": str(path), "to": recipients})
        return "250 Message accepted for delivery"


def start_sink(
    directory: Path | None, *, host: str = "127.0.0.1", port: int = 2525
) -> tuple[Controller, MailSink]:
    """Start a sink in a background thread; stop it with ``controller.stop()``."""
    handler = MailSink(directory)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return controller, handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local SMTP sink storing .eml files.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", type=Path, default=Path(".suishin/mail"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s smtp-sink %(message)s")
    controller, _ = start_sink(args.dir, host=args.host, port=args.port)
    print(f"smtp sink listening on {args.host}:{args.port}, storing to {args.dir}", flush=True)

    async def wait_for_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait_for_signal())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
