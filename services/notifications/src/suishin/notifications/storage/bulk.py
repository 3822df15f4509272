"""Set-based inserts: one ``insert ... select ... from unnest(...)`` per table and batch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def insert_unnest(
    table: str,
    columns: Sequence[tuple[str, str]],
    tail: str = "",
    *,
    first: int = 1,
    where: str = "",
) -> str:
    """``insert into table (columns) select ... from unnest($first::type[], ...) as u(columns)``,
    then ``where`` (on the rows ``u``) and ``tail``.

    A column whose type is an array (``text[]``) travels as one JSON array per row
    (:func:`unnest_args`): unnest would flatten an array of arrays, and PostgreSQL's arrays of
    arrays must all be as long."""
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(
        f"${i}::{'text' if kind.endswith('[]') else kind}[]"
        for i, (_, kind) in enumerate(columns, first)
    )
    values = ", ".join(
        f"array(select jsonb_array_elements_text(u.{name}::jsonb))::{kind}"
        if kind.endswith("[]")
        else f"u.{name}"
        for name, kind in columns
    )
    condition = f"where {where}" if where else ""
    return (
        f"insert into {table} ({names}) select {values} "
        f"from unnest({arrays}) as u({names}) {condition} {tail}"
    )


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows turned into one list per column (the arguments of :func:`insert_unnest`)."""
    return [[row[i] for row in rows] for i in range(width)]


def unnest_args(rows: Sequence[Sequence[Any]], spec: Sequence[tuple[str, str]]) -> list[list[Any]]:
    """The arguments of :func:`insert_unnest` for ``rows`` (values in ``spec`` order): one list
    per column, an array column's values as JSON text."""
    args = columns(rows, len(spec))
    for i, (_, kind) in enumerate(spec):
        if kind.endswith("[]"):
            args[i] = [json.dumps(list(v), default=str) for v in args[i]]
    return args
