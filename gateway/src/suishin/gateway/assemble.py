"""Complete every gateway answer in one pass instead of re-executing it field by field.

A subgraph answers a forwarded root field with JSON whose shape is already the client's
selection (same response keys, enums as names, scalars serialised). Completing that JSON through
graphql-core, one resolver per field, cost the gateway tens of microseconds per field: most of a
whole-plan query's time. So the gateway's resolvers return what to fetch (:class:`Forward`,
:class:`Entity`) or what the gateway already holds (:class:`Local`), and its executor
(:class:`GatewayExecutor`) completes such a value with an :class:`Assembly`, which

1. plans the selection once per request (fields per response key, fragments inlined, ``@skip`` /
   ``@include`` applied, which fields another subgraph owns);
2. forwards the field to its subgraph (the document built once per client document, see
   forwarding.DocumentCache);
3. fetches the cross-service fields: per field *position*, all parent entities at once through
   the owner's ``_entities`` (the request's DataLoaders: one call per position, never per row),
   round after round while fetched data holds further cross-service fields;
4. copies the answer into the client's shape (drops the gateway's ``_gw_*`` keys, keeps the
   selection's order) and applies GraphQL's null rules: an error or null at a non-null position
   nulls the nearest nullable parent, and every error keeps its path.

This is the gateway's only way of completing subgraph data: the fields of the mirrored types
(generated.py) have no resolvers that graphql-core would call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    located_error,
)
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from suishin.gateway import errors
from suishin.gateway.auth import check_rows
from suishin.gateway.forwarding import (
    KEY_ALIAS,
    OWNER,
    TYPENAME_ALIAS,
    DocumentCache,
    SelectionBuilder,
    document_key,
    field_metadata,
    node_positions,
)


@dataclass(frozen=True, slots=True)
class Forward:
    """A forwarded root field's resolver result: ask ``subgraph`` for the client's selection."""

    subgraph: str
    operation: OperationType = OperationType.QUERY


@dataclass(frozen=True, slots=True)
class Entity:
    """A field's resolver result: the entity ``typename`` with id ``key`` from ``subgraph``,
    with the sub-selection the client asked for (batched per request like any entity)."""

    subgraph: str
    typename: str
    key: str


@dataclass(frozen=True, slots=True)
class Local:
    """A field's resolver result filled by the gateway itself (e.g. from a Kafka event): data
    keyed by GraphQL field name, enums by their GraphQL names, decimals and dates as strings."""

    data: dict[str, Any]


@dataclass(slots=True)
class Completed:
    """A root field's value, completed by :func:`assemble`."""

    data: Any
    errors: list[tuple[GraphQLError, Path]]
    error: GraphQLError | None = None  # set when the field itself came out null at non-null


@dataclass(slots=True)
class Entry:
    """One response key of an object's selection."""

    key: str
    name: str
    type: GraphQLOutputType | None  # None for __typename
    nodes: list[FieldNode]
    owner: str | None = None  # the subgraph owning the field (None: the parent's)
    definition: GraphQLField | None = None
    child: Plan | None = None  # the selection on the field's object type
    scalar: bool = False  # a scalar or list of scalars of the parent's subgraph: copied as is
    enum: GraphQLEnumType | None = None  # an enum of the parent's subgraph (not in a list)


@dataclass(slots=True)
class Plan:
    """The selection on one object type at one position of the query."""

    type: GraphQLObjectType
    entries: list[Entry]


@dataclass(slots=True)
class Foreign:
    """A cross-service field's value as fetched (or why it could not be)."""

    value: Any
    source: str
    error: GraphQLError | None = None


@dataclass(slots=True)
class Position:
    """Every parent object at one cross-service field position."""

    owner: str
    parent: GraphQLObjectType
    entry: Entry
    parents: list[dict[str, Any]] = field(default_factory=list)


class _Null(Exception):
    """A null at a non-null position: the nearest nullable parent becomes null."""

    def __init__(self, error: GraphQLError) -> None:
        self.error = error


class Assembly:
    """The assembly of one field's value (one per field and request)."""

    def __init__(
        self,
        info: GraphQLResolveInfo,
        source: str,
        documents: DocumentCache,
        document: str | None,
    ) -> None:
        self.info = info
        self.ctx = info.context
        self.source = source
        self.documents = documents
        self.document = document  # the client document's key in ``documents``
        self.variables: Any = info.variable_values or {}
        self.errors: list[tuple[GraphQLError, Path]] = []
        self.root: Plan | None = None
        self._plans: dict[tuple[tuple[int, ...], str], Plan] = {}
        self._foreign: dict[tuple[int, str], bool] = {}

    # --- the three kinds of values -----------------------------------------------------------

    async def forward(self, operation: OperationType) -> Completed:
        """Forward the root field to its subgraph and complete the answer."""
        info, ctx = self.info, self.ctx
        self.check()

        def build() -> tuple[str, str, set[str]]:
            builder = SelectionBuilder.for_info(info, self.source)
            document, key = builder.root_operation(info, operation)
            return document, key, builder.variables

        document, key, used = self.documents.get(self._cache_key("root"), build)
        variables = {k: v for k, v in ctx.raw_variables.items() if k in used}
        result = await ctx.subgraphs[self.source].execute(
            document,
            variables,
            authorization=ctx.authorization,
            dedupe=operation is OperationType.QUERY,  # never merge two mutations
        )
        if result.errors:
            raise result.errors[0]
        value = (result.data or {}).get(key)
        check_rows(ctx.principal, value)
        await self.fetch_foreign(value)
        return self.complete(value)

    async def entity(self, typename: str, key: str) -> Completed:
        """Load the entity ``typename`` with id ``key`` and complete it."""
        info, ctx = self.info, self.ctx
        self.check()

        def build() -> tuple[str, set[str]]:
            builder = SelectionBuilder.for_info(info, self.source)
            return builder.entity_selection_operation(info, typename), builder.variables

        document, used = self.documents.get(self._cache_key("entity", typename), build)
        loader = ctx.loaders.loader(self.source, typename, document, "", used)
        value = await loader.load(key)
        check_rows(ctx.principal, value)
        await self.fetch_foreign(value)
        return self.complete(value)

    def local(self, data: dict[str, Any]) -> Completed:
        """Complete data the gateway holds (keyed by field name, see :class:`Local`)."""
        self.check()
        return self.complete(_by_response_key(data, self.root))

    def _cache_key(self, kind: str, *more: Any) -> tuple[Any, ...] | None:
        positions = node_positions(self.info.field_nodes)
        if self.document is None or positions is None:
            return None
        return (self.document, kind, self.source, *more, positions)

    # --- planning -----------------------------------------------------------------------------

    def check(self) -> None:
        """Plan the whole selection under the field."""
        named = _named(self.info.return_type)
        if isinstance(named, (GraphQLInterfaceType, GraphQLUnionType)):
            raise _unsupported(named.name)
        if isinstance(named, GraphQLObjectType):
            self.root = self.plan(named, self.info.field_nodes)

    def plan(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode]) -> Plan:
        cache_key = (tuple(map(id, nodes)), type_.name)
        found = self._plans.get(cache_key)
        if found is not None:
            return found
        grouped: dict[str, list[FieldNode]] = {}
        for node in nodes:
            if node.selection_set is not None:
                self._collect(type_, node.selection_set, grouped, set())
        plan = self._plans[cache_key] = Plan(type_, [])
        for key, field_nodes in grouped.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                plan.entries.append(Entry(key, name, None, field_nodes))
                continue
            definition = type_.fields.get(name)
            if definition is None:  # validation lets no other name through
                raise _unsupported(name)
            owner = field_metadata(definition).get(OWNER)
            entry = Entry(key, name, definition.type, field_nodes, owner, definition)
            child = _named(definition.type)
            if isinstance(child, (GraphQLInterfaceType, GraphQLUnionType)):
                raise _unsupported(name)  # the subgraphs' schemas have none (codegen.py)
            if isinstance(child, GraphQLObjectType):
                entry.child = self.plan(child, field_nodes)
            entry.scalar = isinstance(child, GraphQLScalarType) and entry.owner is None
            if isinstance(child, GraphQLEnumType) and entry.owner is None:
                inner = entry.type.of_type if isinstance(entry.type, GraphQLNonNull) else entry.type
                entry.enum = child if inner is child else None
            plan.entries.append(entry)
        return plan

    def _collect(
        self,
        type_: GraphQLObjectType,
        selection_set: SelectionSetNode,
        out: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                out.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or self._applies(condition.name.value, type_):
                    self._collect(type_, selection.selection_set, out, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.info.fragments.get(name)
                if name in visited or fragment is None:
                    continue
                visited.add(name)
                if self._applies(fragment.type_condition.name.value, type_):
                    self._collect(type_, fragment.selection_set, out, visited)

    def _applies(self, condition: str, type_: GraphQLObjectType) -> bool:
        if condition == type_.name:
            return True
        target = self.info.schema.get_type(condition)
        if isinstance(target, (GraphQLInterfaceType, GraphQLUnionType)):
            return self.info.schema.is_sub_type(target, type_)
        return False

    def _included(self, node: Any) -> bool:
        """``@skip`` / ``@include`` with the request's variables."""
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            value: Any = None
            for argument in directive.arguments or ():
                if argument.name.value == "if":
                    raw = argument.value
                    if isinstance(raw, BooleanValueNode):
                        value = raw.value
                    elif isinstance(raw, VariableNode):
                        value = self.variables.get(raw.name.value)
            if (name == "skip" and value is True) or (name == "include" and value is not True):
                return False
        return True

    def has_foreign(self, plan: Plan, source: str) -> bool:
        """Does the selection below ``plan`` hold a field another subgraph than ``source``
        owns?"""
        cache_key = (id(plan), source)
        found = self._foreign.get(cache_key)
        if found is None:
            found = any(
                (entry.owner is not None and entry.owner != source)
                or (entry.child is not None and self.has_foreign(entry.child, source))
                for entry in plan.entries
            )
            self._foreign[cache_key] = found
        return found

    # --- cross-service fields -----------------------------------------------------------------

    async def fetch_foreign(self, value: Any) -> None:
        """Fetch every cross-service field below the root value: one ``_entities`` call per
        field position and round, the values stored in place as :class:`Foreign`."""
        if self.root is None:
            return
        pending: list[tuple[Any, Plan, str]] = [(value, self.root, self.source)]
        while pending:
            positions: dict[int, Position] = {}
            for item, plan, source in pending:
                self._positions(item, plan, source, positions)
            pending = []
            found = list(positions.values())
            fetched = await asyncio.gather(*(self._fetch(p) for p in found))
            for position, values in zip(found, fetched, strict=True):
                child = position.entry.child
                for parent, foreign in zip(position.parents, values, strict=True):
                    parent[position.entry.key] = foreign
                    if (
                        child is not None
                        and foreign.error is None
                        and self.has_foreign(child, foreign.source)
                    ):
                        pending.append((foreign.value, child, foreign.source))

    def _positions(self, value: Any, plan: Plan, source: str, out: dict[int, Position]) -> None:
        if value is None or not self.has_foreign(plan, source):
            return
        if isinstance(value, list):
            for item in value:
                self._positions(item, plan, source, out)
            return
        if not isinstance(value, dict):
            return
        for entry in plan.entries:
            if entry.owner is not None and entry.owner != source:
                position = out.get(id(entry))
                if position is None:
                    position = out[id(entry)] = Position(entry.owner, plan.type, entry)
                position.parents.append(value)
            elif entry.child is not None:
                self._positions(value.get(entry.key), entry.child, source, out)

    async def _fetch(self, position: Position) -> list[Foreign]:
        entry, owner = position.entry, position.owner
        assert entry.definition is not None
        typename = position.parent.name

        def build() -> tuple[str, set[str]]:
            builder = SelectionBuilder(self.info.schema, self.info.fragments, owner)
            assert entry.definition is not None
            document = builder.entities_document(
                entry.definition, entry.key, entry.nodes, self.info.operation, typename
            )
            return document, builder.variables

        positions = node_positions(entry.nodes)
        cache_key = (
            None
            if self.document is None or positions is None
            else (self.document, "entities", owner, typename, entry.key, positions)
        )
        document, variables = self.documents.get(cache_key, build)
        loader = self.ctx.loaders.loader(owner, typename, document, entry.key, variables)
        keys = [parent.get(KEY_ALIAS) for parent in position.parents]
        loaded = iter(
            await asyncio.gather(
                *(loader.load(str(k)) for k in keys if k is not None), return_exceptions=True
            )
        )
        out: list[Foreign] = []
        for k in keys:
            if k is None:
                out.append(Foreign(None, owner, _missing_key(typename, entry.name)))
                continue
            entity = next(loaded)
            if isinstance(entity, GraphQLError):
                out.append(Foreign(None, owner, entity))
                continue
            if isinstance(entity, BaseException):
                raise entity
            value = entity.get(entry.key) if entity is not None else None
            try:
                check_rows(self.ctx.principal, value)
            except GraphQLError as exc:
                out.append(Foreign(None, owner, exc))
                continue
            out.append(Foreign(value, owner))
        return out

    # --- the client's shape -------------------------------------------------------------------

    def complete(self, value: Any) -> Completed:
        """The root field's value in the client's shape, with the errors found on the way."""
        info = self.info
        try:
            data = self._position(
                value, info.return_type, info.field_nodes, self.root, self.source, info.path
            )
        except _Null as null:  # the root field is non-null: graphql-core nulls its parent
            return Completed(None, self.errors, null.error)
        return Completed(data, self.errors)

    def _position(
        self,
        value: Any,
        type_: GraphQLOutputType,
        nodes: list[FieldNode],
        plan: Plan | None,
        source: str,
        path: Path,
    ) -> Any:
        """A field or list item: a failure below stops here unless ``type_`` is non-null."""
        try:
            return self._complete(value, type_, nodes, plan, source, path)
        except _Null as null:
            if isinstance(type_, GraphQLNonNull):
                raise
            self.errors.append((null.error, path))
            return None

    def _complete(
        self,
        value: Any,
        type_: GraphQLOutputType,
        nodes: list[FieldNode],
        plan: Plan | None,
        source: str,
        path: Path,
    ) -> Any:
        if isinstance(value, Foreign):
            if value.error is not None:
                raise _Null(located_error(value.error, nodes, path.as_list()))
            source, value = value.source, value.value
        if isinstance(type_, GraphQLNonNull):
            out = self._complete(value, type_.of_type, nodes, plan, source, path)
            if out is None:
                raise _Null(
                    located_error(
                        TypeError(
                            f"Cannot return null for non-nullable field {_label(path, nodes)}."
                        ),
                        nodes,
                        path.as_list(),
                    )
                )
            return out
        if value is None:
            return None
        if isinstance(type_, GraphQLList):
            if not isinstance(value, list):
                raise _Null(_mismatch(f"Expected a list for {_label(path, nodes)}.", nodes, path))
            item_type = type_.of_type
            return [
                self._position(item, item_type, nodes, plan, source, path.add_key(i, None))
                for i, item in enumerate(value)
            ]
        if isinstance(type_, GraphQLObjectType):
            if not isinstance(value, dict):
                raise _Null(
                    _mismatch(f"Expected an object for {_label(path, nodes)}.", nodes, path)
                )
            if plan is None:
                plan = self.plan(type_, nodes)
            return self._object(value, plan, source, path)
        if isinstance(type_, GraphQLEnumType) and value not in type_.values:
            raise _Null(
                _mismatch(f"Enum '{type_.name}' cannot represent value: {value!r}", nodes, path)
            )
        return value  # scalars: the subgraph serialised them, the gateway's scalars pass them on

    def _object(self, value: dict[str, Any], plan: Plan, source: str, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        name = plan.type.name
        for entry in plan.entries:
            key = entry.key
            raw = value.get(key)
            if raw is not None and (
                entry.scalar or (entry.enum is not None and raw in entry.enum.values)
            ):
                out[key] = raw  # serialised by the subgraph, valid against the mirrored schema
                continue
            if entry.type is None:
                out[key] = raw or value.get(TYPENAME_ALIAS) or name
                continue
            if entry.owner is not None and entry.owner != source and not isinstance(raw, Foreign):
                raw = Foreign(None, source, _missing_key(name, entry.name))
            out[key] = self._position(
                raw, entry.type, entry.nodes, entry.child, source, path.add_key(key, name)
            )
        return out


def _label(path: Path, nodes: list[FieldNode]) -> str:
    """``Parent.field`` of the field at ``path`` (list items: of their list)."""
    at: Path | None = path
    while at is not None and at.typename is None:
        at = at.prev
    return f"{at.typename if at else 'Query'}.{nodes[0].name.value}"


def _mismatch(message: str, nodes: list[FieldNode], path: Path) -> GraphQLError:
    """A subgraph answer that does not fit the gateway's schema (a deployment problem)."""
    return GraphQLError(
        message,
        nodes,
        path=path.as_list(),
        extensions={
            "code": "SCHEMA_MISMATCH",
            "message": "ゲートウェイとサービスのスキーマが一致しません",
            "messageEn": message,
        },
    )


def _missing_key(typename: str, field_name: str) -> GraphQLError:
    return errors.gateway_error(
        "GATEWAY_ERROR",
        "ゲートウェイの内部エラーです",
        f"missing entity key for {typename}.{field_name}",
    )


def _unsupported(name: str) -> GraphQLError:
    return errors.gateway_error(
        "GATEWAY_ERROR",
        "ゲートウェイの内部エラーです",
        f"the gateway cannot assemble {name} (abstract types are not mirrored)",
    )


def _by_response_key(value: Any, plan: Plan | None) -> Any:
    """Data keyed by field name (:class:`Local`) → keyed by the selection's response keys."""
    if plan is None or value is None:
        return value
    if isinstance(value, list):
        return [_by_response_key(item, plan) for item in value]
    return {e.key: _by_response_key(value.get(e.name), e.child) for e in plan.entries}


def _named(type_: Any) -> Any:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


class GatewayExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, completing :class:`Forward`, :class:`Entity` and :class:`Local`
    values with an :class:`Assembly` (see :func:`executor_class`)."""

    documents: ClassVar[DocumentCache]
    _document: str | bool | None = False  # the client document's key, computed once

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        if isinstance(result, Forward):
            assembly = self._assembly(info, result.subgraph)
            return self._unpack_later(assembly.forward(result.operation))
        if isinstance(result, Entity):
            assembly = self._assembly(info, result.subgraph)
            return self._unpack_later(assembly.entity(result.typename, result.key))
        if isinstance(result, Local):
            return self._unpack(self._assembly(info, LOCAL).local(result.data))
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _assembly(self, info: GraphQLResolveInfo, source: str) -> Assembly:
        if self._document is False:
            self._document = document_key(info.operation)
        document = self._document
        assert not isinstance(document, bool)
        return Assembly(info, source, self.documents, document)

    async def _unpack_later(self, completed: Awaitable[Completed]) -> Any:
        return self._unpack(await completed)

    def _unpack(self, completed: Completed) -> Any:
        for error, error_path in completed.errors:
            self.collected_errors.add(error, error_path)
        if completed.error is not None:  # null at this non-null field
            raise completed.error
        return completed.data


LOCAL = "gateway"  # the source of :class:`Local` data


def executor_class(documents: DocumentCache | None = None) -> type[GatewayExecutor]:
    """A :class:`GatewayExecutor` with its own document cache, for one schema."""
    cache = documents if documents is not None else DocumentCache()
    return type("GatewayExecutor", (GatewayExecutor,), {"documents": cache})


__all__ = [
    "LOCAL",
    "Assembly",
    "Completed",
    "Entity",
    "Forward",
    "GatewayExecutor",
    "Local",
    "executor_class",
]
