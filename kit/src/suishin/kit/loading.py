"""Loading helpers shared by the subgraphs: values a DataLoader already holds, and what a
field's selection reads (for prefetching), through Strawberry's public ``selected_fields``.

A field reading a loader resolves synchronously when the loader already holds its value
(:func:`when_loaded`); a list field prefetches, in one batch per kind of data, what the
selection below it reads (:func:`selected_names`, :func:`names_below`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, cast

from graphql import GraphQLResolveInfo
from strawberry.dataloader import DataLoader
from strawberry.types import Info
from strawberry.types.nodes import (
    FragmentSpread,
    InlineFragment,
    SelectedField,
    Selection,
    convert_selections,
)

__all__ = ["PENDING", "names_below", "peek", "selected_names", "selection_key", "when_loaded"]

T = TypeVar("T")

PENDING: Any = object()  # what peek returns for a value not loaded (yet)

AnyInfo = Info[Any, Any] | GraphQLResolveInfo


def peek(loader: DataLoader[Any, Any], key: Any) -> Any:
    """The value ``loader`` holds for ``key`` once its batch has completed, else PENDING."""
    future = loader.cache_map.get(key)
    if future is None or not future.done() or future.cancelled() or future.exception():
        return PENDING
    return future.result()


def when_loaded(then: Callable[..., T], *loads: tuple[DataLoader[Any, Any], Any]) -> T:
    """``then(*values)`` of the given (loader, key) pairs: computed now when every value is
    already loaded, else an awaitable of it. graphql-core awaits an awaitable a resolver
    returns, so a field resolves synchronously whenever its data was prefetched."""
    values = [peek(loader, key) for loader, key in loads]
    if PENDING not in values:
        return then(*values)

    async def later() -> T:
        return then(*await asyncio.gather(*(loader.load(key) for loader, key in loads)))

    return cast(T, later())


def _selections(info: AnyInfo) -> list[Selection]:
    """The selections of the field ``info`` resolves (a resolver wrapped at graphql-core level
    gets graphql-core's info; Strawberry converts the same way)."""
    if isinstance(info, Info):
        return info.selected_fields
    return convert_selections(info, info.field_nodes)


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields of ``selections``, fragments (inline or spread) flattened."""
    stack = [iter(selections)]
    while stack:
        for selection in stack[-1]:
            if isinstance(selection, SelectedField):
                yield selection
            elif isinstance(selection, (InlineFragment, FragmentSpread)):
                stack.append(iter(selection.selections))
                break
        else:
            stack.pop()


def selected_names(info: AnyInfo, path: tuple[str, ...] = ()) -> frozenset[str]:
    """Names of the fields selected below the field ``info`` resolves, following ``path``
    (e.g. ``("edges", "node")`` for the nodes of a connection); fragments included."""
    fields = [child for field in _fields(_selections(info)) for child in _fields(field.selections)]
    for step in path:
        fields = [
            child for field in fields if field.name == step for child in _fields(field.selections)
        ]
    return frozenset(f.name for f in fields)


def names_below(info: AnyInfo) -> frozenset[str]:
    """Names of every field selected at any depth below the field ``info`` resolves."""
    names: set[str] = set()
    stack = [f.selections for f in _fields(_selections(info))]
    while stack:
        for field in _fields(stack.pop()):
            names.add(field.name)
            if field.selections:
                stack.append(field.selections)
    return frozenset(names)


def selection_key(info: AnyInfo) -> tuple[str, ...]:
    """The response path of the field ``info`` resolves without list indices: the same for
    every item of a list, so that what its selection reads is worked out once per request."""
    return tuple(k for k in info.path.as_list() if isinstance(k, str))
