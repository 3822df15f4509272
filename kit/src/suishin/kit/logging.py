"""Structured logging: one JSON object per line, with whatever ``extra`` a call adds, and the
``trace_id``, ``span_id`` and ``correlation_id`` of what runs (kit.tracing) on every line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from suishin.kit import tracing

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_ids(record))
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _ids(record: logging.LogRecord) -> dict[str, str]:
    """The ids of the context the record was made in (formatting runs in the same task)."""
    return tracing.current_ids()


class PlainFormatter(logging.Formatter):
    """Human-readable lines that still carry the structured fields (key=value)."""

    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s {service} %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {**_ids(record), **{k: v for k, v in record.__dict__.items() if k not in _STANDARD}}
        if extra:
            line += " " + " ".join(f"{k}={v!r}" for k, v in extra.items())
        return line


def configure_logging(service: str, level: str = "INFO", *, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(PlainFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO; the gateway logs its subgraph calls at DEBUG itself.
    for noisy in ("aiokafka", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
