"""Set-based inserts: one ``insert ... select * from unnest(...)`` per table and batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def insert_unnest(table: str, columns: Sequence[tuple[str, str]], tail: str = "") -> str:
    """``insert into table (columns) select * from unnest($1::type[], ...)`` + ``tail``."""
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(columns, 1))
    return f"insert into {table} ({names}) select * from unnest({arrays}) {tail}"


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows turned into one list per column (the arguments of :func:`insert_unnest`)."""
    return [[row[i] for row in rows] for i in range(width)]
