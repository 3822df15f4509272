"""Relay-style pages shared by the subgraphs: ``Connection[T]`` of ``Edge[T]`` with a
``PageInfo``, and the one keyset cursor codec.

A connection is keyset-paginated: a cursor carries the sort key of its row (one or more values),
``after`` a cursor continues after that row. Strawberry names the specialisations after the node
type (``Connection[Measure]`` is ``MeasureConnection``, its edges ``MeasureEdge``); a service
subclasses a specialisation to describe it. ``PageInfo`` is ``@shareable``: every subgraph that
pages declares the same type. (Strawberry's ``strawberry.relay`` types need ``Node`` types with
global ids and a non-shareable ``PageInfo``, which the subgraphs' federated types are not.)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from suishin.kit.errors import DomainError

__all__ = ["Connection", "CursorCodec", "Edge", "InvalidCursor", "PageInfo", "page"]

T = TypeVar("T")
R = TypeVar("R")


class InvalidCursor(DomainError):
    """An ``after`` cursor this connection did not hand out."""

    def __init__(self) -> None:
        super().__init__("INVALID_CURSOR", "カーソルが不正です", "Invalid cursor", field="after")


class CursorCodec:
    """Opaque cursors of one connection: ``prefix`` and the row's sort key values, joined by
    ``|`` and base64url-encoded (only the last value may contain ``|``)."""

    def __init__(self, prefix: str, parts: int = 1) -> None:
        self.prefix = prefix
        self.parts = parts

    def encode(self, *values: str) -> str:
        assert len(values) == self.parts
        return base64.urlsafe_b64encode(f"{self.prefix}{'|'.join(values)}".encode()).decode()

    def decode(self, cursor: str) -> tuple[str, ...]:
        """The sort key values of ``cursor``; :class:`InvalidCursor` when it is not one of
        this codec's."""
        try:
            text = base64.urlsafe_b64decode(cursor.encode()).decode()
        except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
            raise InvalidCursor from exc
        if not text.startswith(self.prefix):
            raise InvalidCursor
        values = tuple(text[len(self.prefix) :].split("|", self.parts - 1))
        if len(values) != self.parts:
            raise InvalidCursor
        return values


@strawberry.federation.type(shareable=True, description="Relay-style page information.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow.")
    has_previous_page: bool = strawberry.field(description="Items precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge.")


@strawberry.type(description="An item of a page and its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque cursor of this item; pass as `after`.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of items (Relay-style).")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Paging.")
    total_count: int = strawberry.field(description="Items matching the filter.")


C = TypeVar("C", bound=Connection)


def page(
    connection: Callable[..., C],
    rows: Sequence[R],
    *,
    first: int,
    after: bool,
    cursor: Callable[[R], str],
    node: Callable[[R], T],
    total_count: int,
    has_next_page: bool | None = None,
    page_info: Callable[..., PageInfo] = PageInfo,
) -> C:
    """The connection of a page fetched with one row more than ``first`` (or with
    ``has_next_page`` given): its edges, and whether rows follow or precede it."""
    edges = [Edge(cursor=cursor(r), node=node(r)) for r in rows[:first]]
    return connection(
        edges=edges,
        page_info=page_info(
            has_next_page=len(rows) > first if has_next_page is None else has_next_page,
            has_previous_page=after,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total_count,
    )
