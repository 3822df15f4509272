"""Quick completion of subgraph answers: objects whose fields only read the object are
completed in one loop instead of one resolver call, info object and completion per field.

Used by the plans and indicators subgraphs (:func:`quick_schema`). It builds on graphql-core's
execution context (``collect_and_execute_subfields``, ``collect_subfields``,
``complete_leaf_value``, ``build_resolve_info``), which is why kit pins graphql-core; anything
the loop does not handle (an error, a null at a non-null position, an awaitable, directives such
as ``@defer``, middleware) is completed by the regular path, and
``tests/kit/test_graphql_exec.py`` runs a corpus of queries through both paths and compares.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

__all__ = ["QuickExecutionContext", "graphql_schema", "quick_schema"]

_READ = "suishin.read"  # GraphQLField.extensions: the field's value from its object alone
_CALL = "suishin.call"  # ... or from a synchronous method taking info and/or arguments


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built (Strawberry keeps it as ``_schema`` and has no
    public accessor; this is the one place that reads it)."""
    built = schema._schema
    assert isinstance(built, GraphQLSchema)
    return built


def quick_schema(schema: strawberry.Schema) -> strawberry.Schema:
    """Prepare ``schema`` (built with ``execution_context_class=QuickExecutionContext``) for
    the quick completion: mark the fields it completes in its loop (:func:`_readers`) and tell
    ``_entities`` items' types from their class. The schema (SDL) does not change."""
    return _entity_types(_readers(schema))


class _Slow(Exception):
    """The quick completion met what only the regular one handles (an error, a null, an
    awaitable)."""


@dataclass(frozen=True, slots=True)
class _Call:
    method: Callable[..., Any]
    info: str | None  # name of the method's info parameter
    field: StrawberryField


def _readers(schema: strawberry.Schema) -> strawberry.Schema:
    """Mark the fields :class:`QuickExecutionContext` completes in its loop: attributes and
    synchronous methods (with or without info and arguments) without field extensions or
    permissions. Methods taking nothing but ``self`` are also called directly by the regular
    completion, not through Strawberry's resolver wrapping (Info, argument conversion,
    extension chain), which cost more than such a field."""
    for type_ in graphql_schema(schema).type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for gql_field in type_.fields.values():
            definition = gql_field.extensions.get("strawberry-definition")
            if (
                not isinstance(definition, StrawberryField)
                or definition.extensions
                or definition.permission_classes
            ):
                continue
            resolver = definition.base_resolver
            if resolver is None:
                read: Callable[[Any], Any] = operator.attrgetter(definition.python_name)
                gql_field.resolve = _plain(read)
                gql_field.extensions = {**gql_field.extensions, _READ: read}
                continue
            method = resolver.wrapped_func
            if (
                resolver.is_async
                or not resolver.self_parameter
                or resolver.root_parameter
                or resolver.parent_parameter
                or isinstance(method, (staticmethod, classmethod))
            ):
                continue
            info = resolver.info_parameter
            if info is None and not resolver.arguments:
                gql_field.resolve = _plain(method)
                gql_field.extensions = {**gql_field.extensions, _READ: method}
            else:
                call = _Call(method, info.name if info else None, definition)
                gql_field.extensions = {**gql_field.extensions, _CALL: call}
    return schema


def _entity_types(schema: strawberry.Schema) -> strawberry.Schema:
    """Tell the type of each ``_entities`` item from its class: Strawberry's generic union
    resolution tries every type of the schema in turn, which cost more per entity than
    resolving the entity."""
    entity = graphql_schema(schema).type_map.get("_Entity")
    if isinstance(entity, GraphQLUnionType) and entity.resolve_type is not None:
        generic = entity.resolve_type
        names = {t.name for t in entity.types}

        def resolve_type(root: Any, info: GraphQLResolveInfo, type_: Any) -> Any:
            definition = getattr(type(root), "__strawberry_definition__", None)
            name = getattr(definition, "name", None)
            return name if name in names else generic(root, info, type_)

        entity.resolve_type = resolve_type
    return schema


def _plain(read: Callable[[Any], Any]) -> Callable[..., Any]:
    return lambda source, _: read(source)


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


@dataclass(slots=True)
class _Step:
    """One response key of an object in the quick completion."""

    key: str
    read: Callable[[Any], Any] | None  # None: a method call (call)
    type: GraphQLOutputType | None  # None: __typename
    sub: list[_Step] | None  # the object's own steps, for an object type
    call: _Call | None = None
    field: GraphQLField | None = None
    nodes: list[FieldNode] | None = None
    kwargs: dict[str, Any] | None = None


class QuickExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Completes an object whose selected fields are attributes or synchronous methods (see
    :func:`_readers`) in one loop, instead of a resolver call through Strawberry's wrapping,
    an info object and a completion per field: most of a large answer. Anything else is
    completed as usual, and so is such an object when the loop meets an error, a null at a
    non-null position or an awaitable (redone the regular way, which handles it)."""

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        plan = self._quick_plan(return_type, field_details_list)
        if plan is not None:
            try:
                return self._quick(plan, result, return_type, path)
            except _Slow:
                pass
        return super().collect_and_execute_subfields(
            return_type, field_details_list, path, result, position_context
        )

    def _quick_plan(self, type_: GraphQLObjectType, field_details_list: Any) -> list[_Step] | None:
        plans: dict[Any, Any] = self.__dict__.setdefault("_quick_plans", {})
        cache_key = (type_, id(field_details_list))  # kept alive with the plan, like graphql-core
        found = plans.get(cache_key)
        if found is None:
            found = plans[cache_key] = (field_details_list, self._build(type_, field_details_list))
        return found[1]

    def _build(self, type_: GraphQLObjectType, field_details_list: Any) -> list[_Step] | None:
        manager = self.middleware_manager
        if type_.is_type_of is not None or (manager is not None and manager.middlewares):
            return None
        grouped, defer_usages, _ = self.collect_subfields(type_, field_details_list)
        if defer_usages:
            return None
        plan: list[_Step] = []
        for key, details in grouped.items():
            first = details[0]
            name = first.node.name.value
            if name == "__typename":
                plan.append(_Step(key, _constant(type_.name), None, None))
                continue
            field_def = type_.fields.get(name)
            if field_def is None:
                return None
            step = _Step(key, field_def.extensions.get(_READ), field_def.type, None)
            call = field_def.extensions.get(_CALL)
            if step.read is None:
                if call is None:
                    return None
                try:
                    kwargs = self._arguments(field_def, first, call.field)
                except Exception:
                    return None
                step.call, step.field, step.kwargs = call, field_def, kwargs
                step.nodes = [d.node for d in details]
            named = get_named_type(field_def.type)
            if isinstance(named, GraphQLObjectType):
                step.sub = self._quick_plan(named, details)
                if step.sub is None:
                    return None
            elif not is_leaf_type(named):
                return None
            plan.append(step)
        return plan

    def _arguments(self, field_def: GraphQLField, first: Any, field: StrawberryField) -> Any:
        if not (field_def.args or first.node.arguments):
            return {}
        raw = get_argument_values(
            field_def,
            first.node,
            self.variable_values,
            first.fragment_variable_values,
            self.hide_suggestions,
        )
        strawberry_schema = self.schema.extensions["strawberry-definition"]
        return convert_arguments(
            raw,
            field.arguments,
            scalar_registry=strawberry_schema.schema_converter.scalar_registry,
            config=strawberry_schema.config,
        )

    def _quick(
        self, plan: list[_Step], value: Any, type_: GraphQLObjectType, path: Path
    ) -> dict[str, Any]:
        out = {}
        for step in plan:
            try:
                if step.read is not None:
                    item = step.read(value)
                else:
                    item = self._call(step, value, type_, path)
            except _Slow:
                raise
            except Exception as exc:
                raise _Slow from exc
            if step.type is None:
                out[step.key] = item
            else:
                out[step.key] = self._quick_value(item, step.type, step.sub, path, step.key)
        return out

    def _call(self, step: _Step, value: Any, type_: GraphQLObjectType, path: Path) -> Any:
        call = step.call
        assert call is not None and step.field is not None and step.nodes is not None
        kwargs = dict(step.kwargs or {})
        if call.info is not None:
            raw = self.build_resolve_info(
                step.field, step.nodes, type_, path.add_key(step.key, type_.name)
            )
            kwargs[call.info] = Info(_raw_info=raw, _field=call.field)
        item = call.method(value, **kwargs)
        if self.is_awaitable(item):
            close = getattr(item, "close", None)
            if close is not None:
                close()
            raise _Slow
        return item

    def _quick_value(
        self,
        value: Any,
        type_: GraphQLOutputType,
        sub: list[_Step] | None,
        parent: Path,
        key: str | int,
    ) -> Any:
        if isinstance(type_, GraphQLNonNull):
            value = self._quick_value(value, type_.of_type, sub, parent, key)
            if value is None:
                raise _Slow
            return value
        if value is None:
            return None
        if isinstance(type_, GraphQLList):
            if not isinstance(value, (list, tuple)):
                raise _Slow
            path = parent.add_key(key, None)
            return [
                self._quick_value(item, type_.of_type, sub, path, i) for i, item in enumerate(value)
            ]
        if sub is not None:
            assert isinstance(type_, GraphQLObjectType)
            return self._quick(sub, value, type_, parent.add_key(key, None))
        try:
            return self.complete_leaf_value(type_, value)  # type: ignore[arg-type]
        except Exception as exc:
            raise _Slow from exc
