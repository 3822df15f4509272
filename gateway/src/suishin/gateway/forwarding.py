"""Turn the client's selection into subgraph operations.

The gateway forwards, for every root field and every cross-service field, the sub-selection the
client asked for (not a fixed one): fields the same subgraph owns are sent as they are (aliases,
arguments, directives and variables kept, fragments inlined); fields owned by another subgraph
are cut out and replaced by the entity key (``_gw_key: id``) so that a DataLoader can fetch them
afterwards from the owning subgraph's ``_entities``.

So a query costs one subgraph call per root field plus one per cross-service field *position*
in the query, whatever the number of rows.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from graphql import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    ListTypeNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    print_ast,
)

T = TypeVar("T")

# Key of a gateway field's Strawberry metadata: the subgraph that resolves the field (default:
# the parent's).
OWNER = "suishin.subgraph"

TYPENAME_ALIAS = "_gw_typename"
KEY_ALIAS = "_gw_key"
TENANT_ALIAS = "_gw_tenant"
REPRESENTATIONS_VAR = "_gw_representations"


def field_metadata(field_def: GraphQLField | None) -> Mapping[str, Any]:
    if field_def is None:
        return {}
    definition = field_def.extensions.get("strawberry-definition")
    return getattr(definition, "metadata", None) or {}


def _name(value: str) -> NameNode:
    return NameNode(value=value)


def _field(
    name: str,
    *,
    alias: str | None = None,
    arguments: Sequence[ArgumentNode] = (),
    directives: Sequence[Any] = (),
    selection_set: SelectionSetNode | None = None,
) -> FieldNode:
    return FieldNode(
        alias=_name(alias) if alias and alias != name else None,
        name=_name(name),
        arguments=tuple(arguments),
        directives=tuple(directives),
        selection_set=selection_set,
    )


def response_key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


@dataclass
class SelectionBuilder:
    """Builds the selection one subgraph must answer for part of the client's query."""

    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    subgraph: str
    variables: set[str] = field(default_factory=set)

    @classmethod
    def for_info(cls, info: GraphQLResolveInfo, subgraph: str) -> SelectionBuilder:
        return cls(info.schema, info.fragments, subgraph)

    def forwarded_field(
        self, nodes: Sequence[FieldNode], field_def: GraphQLField, key: str
    ) -> FieldNode:
        """The subgraph field for all ``nodes`` merged under one response ``key``."""
        named = get_named_type(field_def.type)
        arguments: tuple[ArgumentNode, ...] = tuple(nodes[0].arguments or ())
        selections = [s for n in nodes if n.selection_set for s in n.selection_set.selections]
        selection_set = self.selection_set(selections, named) if selections else None
        self._note_variables(arguments)
        return _field(
            nodes[0].name.value, alias=key, arguments=arguments, selection_set=selection_set
        )

    def selection_set(
        self, selections: Iterable[SelectionNode], parent: GraphQLNamedType
    ) -> SelectionSetNode:
        out: list[SelectionNode] = []
        needs_key = False
        for selection in selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name.startswith("__"):
                    if name == "__typename":
                        out.append(selection)
                    continue
                field_def = _fields_of(parent).get(name)
                if field_def is None:
                    continue
                owner = field_metadata(field_def).get(OWNER)
                if owner and owner != self.subgraph:
                    needs_key = True
                    continue
                forwarded = self.forwarded_field([selection], field_def, response_key(selection))
                if selection.directives:
                    self._note_variables(selection.directives)
                    forwarded = _field(
                        forwarded.name.value,
                        alias=response_key(selection),
                        arguments=forwarded.arguments or (),
                        directives=selection.directives,
                        selection_set=forwarded.selection_set,
                    )
                out.append(forwarded)
            elif isinstance(selection, (InlineFragmentNode, FragmentSpreadNode)):
                condition: NamedTypeNode | None
                if isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments[selection.name.value]
                    condition, inner = fragment.type_condition, fragment.selection_set
                else:
                    condition, inner = selection.type_condition, selection.selection_set
                target = self.schema.get_type(condition.name.value) if condition else parent
                assert target is not None
                if selection.directives:
                    self._note_variables(selection.directives)
                out.append(
                    InlineFragmentNode(
                        type_condition=condition,
                        directives=tuple(selection.directives or ()),
                        selection_set=self.selection_set(inner.selections, target),
                    )
                )
        fields = _fields_of(parent)
        if needs_key and "id" in fields:
            out.append(_field("id", alias=KEY_ALIAS))
        if "tenant" in fields:  # lets the gateway check every row it returns (auth.check_rows)
            out.append(_field("tenant", alias=TENANT_ALIAS))
        if not out or isinstance(parent, (GraphQLInterfaceType, GraphQLUnionType)):
            # The concrete type of an abstract one (and a selection is never empty). Not on
            # every object: on a whole-plan answer that would be a third more fields to resolve.
            out.insert(0, _field("__typename", alias=TYPENAME_ALIAS))
        return SelectionSetNode(selections=tuple(out))

    def _note_variables(self, nodes: Iterable[Any]) -> None:
        for node in nodes:
            self.variables.update(_variables_in(node))

    # --- whole operations -------------------------------------------------------------------

    def root_operation(
        self, info: GraphQLResolveInfo, operation: OperationType = OperationType.QUERY
    ) -> tuple[str, str]:
        """``(document, response key)`` forwarding the root field ``info`` resolves."""
        parent = info.parent_type
        field_def = parent.fields[info.field_name]
        key = info.path.key
        assert isinstance(key, str)
        node = self.forwarded_field(info.field_nodes, field_def, key)
        document = self._operation(operation, info.operation, (node,), ())
        return document, key

    def entities_document(
        self,
        field_def: GraphQLField,
        key: str,
        nodes: Sequence[FieldNode],
        operation: OperationDefinitionNode,
        typename: str,
    ) -> str:
        """The ``_entities`` document fetching the field ``field_def`` (selected by ``nodes``
        under the response ``key``) for many entities of ``typename`` at once."""
        node = self.forwarded_field(nodes, field_def, key)
        entities = _field(
            "_entities",
            arguments=(
                ArgumentNode(
                    name=_name("representations"),
                    value=VariableNode(name=_name(REPRESENTATIONS_VAR)),
                ),
            ),
            selection_set=SelectionSetNode(
                selections=(
                    InlineFragmentNode(
                        type_condition=NamedTypeNode(name=_name(typename)),
                        directives=(),
                        selection_set=SelectionSetNode(selections=(node,)),
                    ),
                )
            ),
        )
        return self._operation(OperationType.QUERY, operation, (entities,), (_representations(),))

    def entity_selection_operation(self, info: GraphQLResolveInfo, typename: str) -> str:
        """An ``_entities`` document selecting, on ``typename`` itself, what the client asked
        for under the field ``info`` resolves (whose type is ``typename``)."""
        named = get_named_type(info.return_type)
        selections = [
            s for n in info.field_nodes if n.selection_set for s in n.selection_set.selections
        ]
        inner = self.selection_set(selections, named)
        entities = _field(
            "_entities",
            arguments=(
                ArgumentNode(
                    name=_name("representations"),
                    value=VariableNode(name=_name(REPRESENTATIONS_VAR)),
                ),
            ),
            selection_set=SelectionSetNode(
                selections=(
                    InlineFragmentNode(
                        type_condition=NamedTypeNode(name=_name(typename)),
                        directives=(),
                        selection_set=inner,
                    ),
                )
            ),
        )
        return self._operation(
            OperationType.QUERY, info.operation, (entities,), (_representations(),)
        )

    def _operation(
        self,
        operation: OperationType,
        client_operation: OperationDefinitionNode,
        selections: tuple[SelectionNode, ...],
        extra_definitions: tuple[VariableDefinitionNode, ...],
    ) -> str:
        definitions = tuple(
            d
            for d in client_operation.variable_definitions or ()
            if d.variable.name.value in self.variables
        )
        op = OperationDefinitionNode(
            operation=operation,
            name=None,
            variable_definitions=extra_definitions + definitions,
            directives=(),
            selection_set=SelectionSetNode(selections=selections),
        )
        return print_ast(op)


# Forwarded documents per client document: dashboards send the same query again and again.
DOCUMENT_CACHE_SIZE = 512


def document_key(operation: OperationDefinitionNode) -> str | None:
    """The SHA-256 of the client's document text and the operation's name (None when the
    parser kept no source, then nothing is cached)."""
    loc = operation.loc
    if loc is None:
        return None
    name = operation.name.value if operation.name else ""
    return hashlib.sha256(f"{name}\n{loc.source.body}".encode()).hexdigest()


def node_positions(nodes: Iterable[Any]) -> tuple[int, ...] | None:
    """Where ``nodes`` start in their document: the same in every parse of the same text."""
    out = []
    for node in nodes:
        if node.loc is None:
            return None
        out.append(node.loc.start)
    return tuple(out)


class DocumentCache:
    """The forwarded documents of one gateway schema: built once per client document (see
    :func:`document_key`) and place in it, the least recently used dropped beyond ``size``."""

    def __init__(self, size: int = DOCUMENT_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[Any, ...] | None, build: Callable[[], T]) -> T:
        """The value cached under ``key``, or ``build()`` (cached unless ``key`` is None)."""
        if key is None:
            return build()
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return cast(T, found)
        value = build()
        self._entries[key] = value
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value


def _representations() -> VariableDefinitionNode:
    return VariableDefinitionNode(
        variable=VariableNode(name=_name(REPRESENTATIONS_VAR)),
        type=NonNullTypeNode(
            type=ListTypeNode(type=NonNullTypeNode(type=NamedTypeNode(name=_name("_Any"))))
        ),
        default_value=None,
        directives=(),
    )


def _fields_of(parent: GraphQLNamedType) -> Mapping[str, GraphQLField]:
    if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
        return parent.fields
    return {}


def _variables_in(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, VariableNode):
            found.add(current.name.value)
            continue
        if isinstance(current, (list, tuple)):
            stack.extend(current)
            continue
        keys = getattr(current, "keys", None)
        if isinstance(keys, tuple):
            for attr in keys:
                if attr != "loc":
                    value = getattr(current, attr, None)
                    if value is not None and not isinstance(value, (str, bool, int)):
                        stack.append(value)
    return found


__all__ = [
    "KEY_ALIAS",
    "OWNER",
    "REPRESENTATIONS_VAR",
    "TENANT_ALIAS",
    "TYPENAME_ALIAS",
    "DocumentCache",
    "SelectionBuilder",
    "document_key",
    "field_metadata",
    "node_positions",
    "response_key",
]
