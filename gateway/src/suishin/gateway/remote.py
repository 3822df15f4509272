"""Declaring the gateway's types mirrored from the subgraphs, and the fields that fetch them.

A remote type is a plain Strawberry type: it declares the schema the clients see. Its values
are never completed field by field: a forwarded root field's resolver checks the caller and
returns a :class:`~suishin.gateway.assemble.Forward`, and the gateway's executor assembles the
subgraphs' answer in the client's shape in one pass (assemble.py). Fields owned by another
subgraph carry that subgraph in their metadata; the assembly fetches them through its
``_entities`` (forwarding.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry
from graphql import OperationType
from strawberry.types import Info

from suishin.gateway import errors
from suishin.gateway.assemble import Entity, Forward, Local
from suishin.gateway.auth import check_tenant, require_signed_in
from suishin.gateway.forwarding import OWNER

T = TypeVar("T")
C = TypeVar("C", bound=type)


def remote_type(*, description: str, name: str | None = None) -> Callable[[C], C]:
    """``@strawberry.type`` for a type whose data comes from a subgraph."""

    def wrap(cls: C) -> C:
        return strawberry.type(cls, description=description, name=name)

    return wrap


def _assembled(root: Any, info: Info[Any, Any]) -> Any:
    """The resolver of a remote type's fields: graphql-core never calls it, the assembly
    completes remote values as a whole (a call means a value escaped the assembly)."""
    raise errors.gateway_error(
        "GATEWAY_ERROR",
        "ゲートウェイの内部エラーです",
        f"{info.field_name} is completed by the assembly only",
    )


def remote(
    description: str,
    *,
    subgraph: str | None = None,
    deprecation_reason: str | None = None,
    name: str | None = None,
) -> Any:
    """A field of a remote type, owned by ``subgraph`` when that differs from its parent's."""
    return strawberry.field(
        resolver=_assembled,
        description=description,
        metadata={OWNER: subgraph} if subgraph else {},
        deprecation_reason=deprecation_reason,
        name=name,
    )


def remote_method(
    description: str,
    *,
    subgraph: str | None = None,
    deprecation_reason: str | None = None,
    name: str | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Like :func:`remote` for a field with arguments: decorate a stub whose signature
    (``self, info: Info, <arguments>``) declares them; the subgraph computes the value, the
    gateway forwards the arguments as the client wrote them."""

    def decorate(stub: Callable[..., Any]) -> Any:
        @functools.wraps(stub)
        def resolve(*args: Any, **kwargs: Any) -> Any:
            return _assembled(args[0], kwargs["info"])

        return strawberry.field(
            resolver=resolve,
            description=description,
            metadata={OWNER: subgraph} if subgraph else {},
            deprecation_reason=deprecation_reason,
            name=name,
        )

    return decorate


def forwarded(
    subgraph: str,
    *,
    description: str,
    mutation: bool = False,
    public: bool = False,
    deprecation_reason: str | None = None,
    name: str | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """A root field answered by ``subgraph``: decorate a stub whose signature (``self, info:
    Info, <arguments>``) declares the arguments. The client's selection is forwarded with the
    caller's token. Only ``public`` fields are open to anonymous callers; a ``tenant`` argument
    naming another municipality than the caller's is refused here, before any subgraph call."""
    operation = OperationType.MUTATION if mutation else OperationType.QUERY

    def decorate(stub: Callable[..., Any]) -> Any:
        @functools.wraps(stub)
        def resolve(*args: Any, **kwargs: Any) -> Any:
            info = kwargs["info"]
            if not public:
                require_signed_in(info)
            check_tenant(info, kwargs.get("tenant"))
            return Forward(subgraph, operation)

        make = strawberry.mutation if mutation else strawberry.field
        return make(
            resolver=resolve,
            description=description,
            deprecation_reason=deprecation_reason,
            metadata={OWNER: subgraph},
            name=name,
        )

    return decorate


def local(cls: type[T], **data: Any) -> T:
    """A value of the remote type ``cls`` filled by the gateway itself (e.g. from a Kafka
    event): ``data`` is keyed by GraphQL field name, enums by their GraphQL names, decimals and
    dates as strings."""
    del cls  # the field's GraphQL type says what the data is
    return cast(T, Local(data))


async def load_entity(info: Info[Any, Any], subgraph: str, typename: str, key: str) -> Any:
    """The entity ``typename`` with id ``key`` from ``subgraph``, with the sub-selection the
    client asked for on the field ``info`` resolves (batched per request like any entity)."""
    del info  # the executor reads the selection
    return Entity(subgraph, typename, str(key))
