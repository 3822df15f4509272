"""Scalars that carry subgraph values through unchanged.

Subgraphs already serialised dates, decimals and ids; the gateway passes those strings on as they
are (no float rounding of decimals, no time-zone shifts) and still accepts Python values for the
events it builds itself.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import strawberry


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _parse_decimal(value: Any) -> decimal.Decimal:
    try:
        return decimal.Decimal(str(value))
    except decimal.InvalidOperation as exc:
        raise ValueError(f"not a decimal: {value!r}") from exc


DateTime = strawberry.scalar(
    name="DateTime",
    description="Date with time and offset (ISO 8601).",
    serialize=_text,
    parse_value=lambda v: dt.datetime.fromisoformat(str(v)),
)
Date = strawberry.scalar(
    name="Date",
    description="Calendar date (ISO 8601).",
    serialize=_text,
    parse_value=lambda v: dt.date.fromisoformat(str(v)),
)
Decimal = strawberry.scalar(
    name="Decimal",
    description='Exact decimal number, sent as a string (e.g. "12.5").',
    serialize=_text,
    parse_value=_parse_decimal,
)
UUID = strawberry.scalar(
    name="UUID",
    description="UUID.",
    serialize=_text,
    parse_value=lambda v: uuid.UUID(str(v)),
)

SCALAR_MAP: dict[object, Any] = {
    dt.datetime: DateTime,
    dt.date: Date,
    decimal.Decimal: Decimal,
    uuid.UUID: UUID,
}
