"""Gateway types backed by subgraph data, and the resolvers that fetch and unwrap it.

A remote type is a Strawberry type whose instances hold the JSON a subgraph returned (``gw_data``)
and which subgraph returned it (``gw_source``). Its fields read their value by response key (so
aliases and arguments work unchanged); a field owned by another subgraph is loaded through that
subgraph's ``_entities`` with a per-request DataLoader.
"""

from __future__ import annotations

import base64
import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    OperationType,
    get_named_type,
)
from strawberry.types import Info

from suishin.gateway import errors
from suishin.gateway.assemble import Assembly, Unsupported, supported
from suishin.gateway.auth import check_rows, check_tenant, require_signed_in
from suishin.gateway.context import context_of
from suishin.gateway.forwarding import (
    GATEWAY_ONLY,
    KEY_ALIAS,
    OWNER,
    PAGE_OF,
    TYPENAME_ALIAS,
    SelectionBuilder,
    cached_document,
)

T = TypeVar("T")
C = TypeVar("C", bound=type)


def remote_type(*, description: str, name: str | None = None) -> Callable[[C], C]:
    """``@strawberry.type`` for a type whose data comes from a subgraph."""

    def wrap(cls: C) -> C:
        own = dict(inspect.get_annotations(cls))
        cls.__annotations__ = {
            "gw_data": strawberry.Private[dict[str, Any]],
            "gw_source": strawberry.Private[str],
            **own,
        }
        return strawberry.type(cls, description=description, name=name)

    return wrap


def remote(
    description: str,
    *,
    subgraph: str | None = None,
    page_of: str | None = None,
    deprecation_reason: str | None = None,
    name: str | None = None,
) -> Any:
    """A field read from the parent's subgraph data, or loaded from ``subgraph`` when the
    parent came from another one. ``page_of`` builds a Relay connection over a list field."""
    metadata: dict[str, Any] = {}
    if subgraph:
        metadata[OWNER] = subgraph
    if page_of:
        metadata[PAGE_OF] = page_of

    async def fetch(root: Any, info: Info[Any, Any]) -> tuple[Any, str]:
        raw = info._raw_info
        if subgraph and root.gw_source != subgraph:
            return await _load_foreign(root, raw, subgraph), subgraph
        return _own_value(root, raw), root.gw_source

    async def resolve_foreign(root: Any, raw: GraphQLResolveInfo) -> Any:
        value = await _load_foreign(root, raw, subgraph or "")
        return wrap_value(value, raw.return_type, subgraph or "", raw.schema)

    def resolve(root: Any, info: Info[Any, Any]) -> Any:
        # Synchronous unless the value lives in another subgraph: most fields of a large answer
        # are plain reads, and an awaitable per field would dominate the gateway's CPU time.
        raw = info._raw_info
        if subgraph and root.gw_source != subgraph:
            return resolve_foreign(root, raw)
        return wrap_value(_own_value(root, raw), raw.return_type, root.gw_source, raw.schema)

    async def resolve_page(
        root: Any,
        info: Info[Any, Any],
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> Any:
        value, source = await fetch(root, info)
        paging = {"first": first, "after": after, "last": last, "before": before}
        return _connection(value, info._raw_info, source, paging)

    resolver: Any = resolve_page if page_of else resolve
    return strawberry.field(
        resolver=resolver,
        description=description,
        metadata=metadata,
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
        async def resolve_foreign(root: Any, raw: GraphQLResolveInfo) -> Any:
            value = await _load_foreign(root, raw, subgraph or "")
            return wrap_value(value, raw.return_type, subgraph or "", raw.schema)

        @functools.wraps(stub)
        def resolve(*args: Any, **kwargs: Any) -> Any:
            root, info = args[0], kwargs["info"]
            raw = info._raw_info
            if subgraph and root.gw_source != subgraph:
                return resolve_foreign(root, raw)
            return wrap_value(_own_value(root, raw), raw.return_type, root.gw_source, raw.schema)

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
    page_of: str | None = None,
    deprecation_reason: str | None = None,
    name: str | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """A root field answered by ``subgraph``: decorate a stub whose signature (``self, info:
    Info, <arguments>``) declares the arguments. The client's selection is forwarded with the
    caller's token. Only ``public`` fields are open to anonymous callers; a ``tenant`` argument
    naming another municipality than the caller's is refused here, before any subgraph call."""

    def decorate(stub: Callable[..., Any]) -> Any:
        @functools.wraps(stub)
        async def resolve(*args: Any, **kwargs: Any) -> Any:
            info = kwargs["info"]
            if not public:
                require_signed_in(info)
            check_tenant(info, kwargs.get("tenant"))
            operation = OperationType.MUTATION if mutation else OperationType.QUERY
            paging = {k: kwargs.get(k) for k in ("first", "after", "last", "before")}
            return await forward(info, subgraph, operation, paging)

        make = strawberry.mutation if mutation else strawberry.field
        return make(
            resolver=resolve,
            description=description,
            deprecation_reason=deprecation_reason,
            metadata={OWNER: subgraph, **({PAGE_OF: page_of} if page_of else {})},
            name=name,
        )

    return decorate


LOCAL = "gateway"


def local(cls: type[T], **data: Any) -> T:
    """A remote type filled by the gateway itself (e.g. from a Kafka event): ``data`` is keyed
    by GraphQL field name, enums by their GraphQL names, decimals and dates as strings."""
    return cls(gw_data=data, gw_source=LOCAL)  # type: ignore[call-arg]


def _own_value(root: Any, raw: GraphQLResolveInfo) -> Any:
    if root.gw_source == LOCAL:  # built by the gateway: keyed by field name, not response key
        return root.gw_data.get(raw.field_name)
    return root.gw_data.get(raw.path.key)


async def load_entity(info: Info[Any, Any], subgraph: str, typename: str, key: str) -> Any:
    """The entity ``typename`` with id ``key`` from ``subgraph``, with the sub-selection the
    client asked for on the field ``info`` resolves (batched per request like any entity)."""
    ctx = context_of(info)
    raw = info._raw_info
    builder = SelectionBuilder.for_info(raw, subgraph)
    document = builder.entity_selection_operation(raw, typename)
    loader = ctx.loaders.loader(subgraph, typename, document, "", builder.variables)
    entity = await loader.load(str(key))
    check_rows(ctx.principal, entity)
    return wrap_value(entity, raw.return_type, subgraph, raw.schema)


def gateway_field(resolver: Callable[..., Any], description: str) -> Any:
    """A field the gateway computes itself (never forwarded)."""
    return strawberry.field(
        resolver=resolver, description=description, metadata={GATEWAY_ONLY: True}
    )


async def forward(
    info: Info[Any, Any],
    subgraph: str,
    operation: OperationType = OperationType.QUERY,
    paging: dict[str, Any] | None = None,
) -> Any:
    """Forward the root field ``info`` resolves to ``subgraph`` and return the gateway value
    (a connection over the returned list for a ``page_of`` field, sliced by ``paging``)."""
    ctx = context_of(info)
    raw = info._raw_info
    page_of = _metadata(raw).get(PAGE_OF)
    assembly: Assembly | None = None
    if not page_of and supported(raw):
        assembly = Assembly(raw, ctx, subgraph)
        try:
            assembly.check()
        except Unsupported:
            assembly = None

    def build() -> tuple[str, str, set[str]]:
        builder = SelectionBuilder.for_info(raw, subgraph)
        document, key = builder.root_operation(raw, operation)
        return document, key, builder.variables

    document, key, used = cached_document(
        raw.operation, ("root", subgraph, raw.path.key, *map(id, raw.field_nodes)), build
    )
    variables = {k: v for k, v in ctx.raw_variables.items() if k in used}
    result = await ctx.subgraphs[subgraph].execute(
        document, variables, authorization=ctx.authorization
    )
    if result.errors:
        raise result.errors[0]
    value = (result.data or {}).get(key)
    check_rows(ctx.principal, value)
    if assembly is not None:  # the answer in one pass (assemble.py)
        await assembly.fetch_foreign(value)
        return assembly.complete(value)
    if page_of:
        return _connection(value, raw, subgraph, paging or {})
    return wrap_value(value, raw.return_type, subgraph, raw.schema)


async def _load_foreign(root: Any, raw: GraphQLResolveInfo, subgraph: str) -> Any:
    key = root.gw_data.get(KEY_ALIAS)
    if key is None:
        raise errors.gateway_error(
            "GATEWAY_ERROR",
            "ゲートウェイの内部エラーです",
            f"missing entity key for {raw.parent_type.name}.{raw.field_name}",
        )
    ctx = raw.context
    builder = SelectionBuilder.for_info(raw, subgraph)
    typename = raw.parent_type.name
    document, response_key = builder.entities_operation(raw, typename)
    loader = ctx.loaders.loader(subgraph, typename, document, response_key, builder.variables)
    entity = await loader.load(str(key))
    if entity is None:
        return None
    value = entity.get(response_key)
    check_rows(ctx.principal, value)
    return value


def _origin(gql_type: GraphQLObjectType) -> Any:
    """The Strawberry class behind a GraphQL object type of this schema."""
    return gql_type.extensions["strawberry-definition"].origin


def wrap_value(value: Any, gql_type: GraphQLOutputType, source: str, schema: GraphQLSchema) -> Any:
    """Subgraph JSON → what the gateway's Strawberry types expect."""
    if value is None:
        return None
    if isinstance(gql_type, GraphQLNonNull):
        return wrap_value(value, gql_type.of_type, source, schema)
    if isinstance(gql_type, GraphQLList):
        return [wrap_value(v, gql_type.of_type, source, schema) for v in value]
    if isinstance(gql_type, (GraphQLInterfaceType, GraphQLUnionType)):
        concrete = schema.get_type(value.get(TYPENAME_ALIAS) or value["__typename"])
        assert isinstance(concrete, GraphQLObjectType)
        return _origin(concrete)(gw_data=value, gw_source=source)
    if isinstance(gql_type, GraphQLObjectType):
        return _origin(gql_type)(gw_data=value, gw_source=source)
    if isinstance(gql_type, GraphQLEnumType):
        # Subgraphs send the enum's GraphQL name; Strawberry wants the Python member.
        enum_value = gql_type.values.get(value)
        return enum_value.value if enum_value is not None else value
    return value


def _metadata(raw: GraphQLResolveInfo) -> dict[str, Any]:
    definition = raw.parent_type.fields[raw.field_name].extensions.get("strawberry-definition")
    return getattr(definition, "metadata", None) or {}


# --- Relay connections built by the gateway over a subgraph list -----------------------------


@strawberry.type(
    name="ListPageInfo", description="Where a page of a connection starts and ends (Relay)."
)
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(description="Items precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item.")


@strawberry.type(description="One item of a connection with its cursor.")
class ListEdge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque cursor; pass it as `after`/`before`.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a long list (Relay cursor connection).")
class ListPage(Generic[T]):
    edges: list[ListEdge[T]] = strawberry.field(description="Items of this page with cursors.")
    nodes: list[T] = strawberry.field(description="Items of this page (shortcut for edges.node).")
    page_info: PageInfo = strawberry.field(description="Paging information.")
    total_count: int = strawberry.field(description="Number of items in the whole list.")


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        kind, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "offset":
            raise ValueError(kind)
        return int(number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.gateway_error(
            "BAD_CURSOR", "カーソルが不正です", f"Invalid cursor {cursor!r}", field="after"
        ) from exc


MAX_PAGE = 500

FirstArg = Annotated[
    int | None, strawberry.argument(description="Return the first n items (at most 500).")
]
AfterArg = Annotated[str | None, strawberry.argument(description="Return items after this cursor.")]
LastArg = Annotated[int | None, strawberry.argument(description="Return the last n items.")]
BeforeArg = Annotated[
    str | None, strawberry.argument(description="Return items before this cursor.")
]


def paginate(
    items: list[Any],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> ListPage[Any]:
    """Slice ``items`` by Relay arguments; cursors are offsets into the list."""
    for name, count in (("first", first), ("last", last)):
        if count is not None and not 0 <= count <= MAX_PAGE:
            raise errors.gateway_error(
                "BAD_PAGE_SIZE",
                f"{name} は 0 以上 {MAX_PAGE} 以下で指定してください",
                f"{name} must be between 0 and {MAX_PAGE}",
                field=name,
            )
    start = decode_cursor(after) + 1 if after else 0
    end = decode_cursor(before) if before else len(items)
    start, end = max(start, 0), min(end, len(items))
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    window = items[start:end] if start < end else []
    edges = [ListEdge(cursor=encode_cursor(start + i), node=n) for i, n in enumerate(window)]
    return ListPage(
        edges=edges,
        nodes=window,
        page_info=PageInfo(
            has_next_page=end < len(items),
            has_previous_page=start > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=len(items),
    )


def _connection(value: Any, raw: GraphQLResolveInfo, source: str, paging: dict[str, Any]) -> Any:
    named = get_named_type(raw.return_type)
    assert isinstance(named, GraphQLObjectType)
    node_type = named.fields["nodes"].type
    assert isinstance(node_type, (GraphQLNonNull, GraphQLList))
    items = wrap_value(value or [], node_type, source, raw.schema)
    return paginate(
        items,
        first=paging.get("first"),
        after=paging.get("after"),
        last=paging.get("last"),
        before=paging.get("before"),
    )
