"""Limits every GraphQL endpoint of the platform applies (gateway and subgraphs alike).

One implementation for all: depth, alias and token limits, a cost budget that bounds list sizes ×
nesting, no introspection in production, no NUL bytes, lone surrogates or oversized strings in
arguments, and an ASGI guard that refuses oversized bodies and variables before anything is
parsed. Refusals are GraphQL errors with a stable ``code`` and Japanese and English messages.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    VariableNode,
    get_named_type,
    get_nullable_type,
)
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

if TYPE_CHECKING:
    from suishin.kit.settings import PlatformSettings

# Distinct documents kept parsed and validated (per process).
DOCUMENT_CACHE_SIZE = 256

# Arguments that give the number of items a list field returns.
SIZE_ARGUMENTS = ("first", "last", "limit")

# A NUL byte (PostgreSQL text refuses it) or a UTF-16 surrogate left alone (no UTF-8 form).
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def limit_error(code: str, message_ja: str, message_en: str, **extra: Any) -> GraphQLError:
    """A refusal with a stable ``code`` (``message`` in the extensions is Japanese)."""
    return GraphQLError(
        message_en,
        extensions={"code": code, "message": message_ja, "messageEn": message_en, **extra},
    )


def unsafe_text(value: str) -> str | None:
    """Why ``value`` may not reach the database or a codec, or None when it is fine."""
    match = _UNSAFE.search(value)
    if match is None:
        return None
    return "NUL byte" if match.group() == "\x00" else "lone UTF-16 surrogate"


# --- cost ---------------------------------------------------------------------------------


def estimate_cost(
    context: ValidationContext, operation: OperationDefinitionNode, default_list_size: int
) -> int:
    """Fields the operation may resolve: each field counts once per item of every list above it.

    A list's size is its ``first``/``last``/``limit`` argument (a literal, the variable's default,
    or the argument's default in the schema), else ``default_list_size``. A connection field that
    takes ``first`` is counted with that size, and its list of nodes right below is not multiplied
    again."""
    variable_defaults: dict[str, int] = {}
    for definition in operation.variable_definitions or ():
        if isinstance(definition.default_value, IntValueNode):
            variable_defaults[definition.variable.name.value] = int(definition.default_value.value)
    schema = context.schema

    def size_of(field: FieldNode, field_def: Any) -> int | None:
        for argument in field.arguments or ():
            if argument.name.value not in SIZE_ARGUMENTS:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(int(value.value), 1)
            if isinstance(value, VariableNode):
                return variable_defaults.get(value.name.value, default_list_size)
        if field_def is not None:
            for name in SIZE_ARGUMENTS:
                arg = field_def.args.get(name)
                if arg is not None and isinstance(arg.default_value, int):
                    return max(arg.default_value, 1)
        return None

    def walk(
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType | None,
        multiplier: int,
        sized: bool,
        seen: frozenset[str],
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name.startswith("__"):
                    total += multiplier
                    continue
                field_def = None
                if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
                    field_def = parent.fields.get(name)
                field_type = field_def.type if field_def is not None else None
                is_list = isinstance(get_nullable_type(field_type), GraphQLList)
                size = size_of(selection, field_def)
                if size is not None:
                    factor = size
                elif is_list:
                    factor = 1 if sized else default_list_size
                else:
                    factor = 1
                inner = multiplier * factor
                total += inner
                named = get_named_type(field_type) if field_type is not None else None
                total += walk(selection.selection_set, named, inner, size is not None, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = schema.get_type(condition.name.value) if condition else parent
                total += walk(selection.selection_set, target, multiplier, sized, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = context.get_fragment(name)
                if fragment is None or name in seen:
                    continue
                target = schema.get_type(fragment.type_condition.name.value)
                total += walk(fragment.selection_set, target, multiplier, sized, seen | {name})
        return total

    root = schema.get_root_type(operation.operation)
    return walk(operation.selection_set, root, 1, False, frozenset())


def cost_rule(max_cost: int, default_list_size: int) -> type[ASTValidationRule]:
    class QueryCostRule(ASTValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            assert isinstance(self.context, ValidationContext)
            cost = estimate_cost(self.context, node, default_list_size)
            if cost > max_cost:
                self.report_error(
                    limit_error(
                        "QUERY_TOO_COSTLY",
                        f"問い合わせが大きすぎます（推定コスト {cost}、上限 {max_cost}）。"
                        "一覧の件数（first）や入れ子を減らしてください",
                        f"The query is too costly (estimated {cost}, limit {max_cost}); "
                        "ask for fewer items (first) or nest less",
                        cost=cost,
                        limit=max_cost,
                    )
                )

    return QueryCostRule


# --- aliases and strings ------------------------------------------------------------------


def alias_rule(max_aliases: int, ignore_prefix: str | None = None) -> type[ASTValidationRule]:
    """At most ``max_aliases`` aliases in the whole document, fragments counted once per use.
    Aliases starting with ``ignore_prefix`` (the gateway's own, on subgraphs) are not counted."""

    class MaxAliasesRule(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            count = 0
            for definition in context.document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    count += _aliases(context, definition.selection_set, ignore_prefix, set())
            if count > max_aliases:
                self.report_error(
                    limit_error(
                        "TOO_MANY_ALIASES",
                        f"別名（alias）が多すぎます（{count} 個、上限 {max_aliases}）",
                        f"{count} aliases found. Allowed: {max_aliases}",
                    )
                )

    return MaxAliasesRule


def _aliases(
    context: ValidationContext,
    selection_set: SelectionSetNode | None,
    ignore_prefix: str | None,
    seen: set[str],
) -> int:
    if selection_set is None:
        return 0
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            alias = selection.alias.value if selection.alias else None
            if alias and not (ignore_prefix and alias.startswith(ignore_prefix)):
                count += 1
            count += _aliases(context, selection.selection_set, ignore_prefix, seen)
        elif isinstance(selection, InlineFragmentNode):
            count += _aliases(context, selection.selection_set, ignore_prefix, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = context.get_fragment(name)
            if fragment is not None and name not in seen:
                count += _aliases(context, fragment.selection_set, ignore_prefix, seen | {name})
    return count


def string_rule(max_length: int) -> type[ASTValidationRule]:
    """String literals in the document: no NUL byte, no lone surrogate, at most ``max_length``."""

    class SafeStringsRule(ASTValidationRule):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            error = string_refusal(node.value, max_length)
            if error is not None:
                self.report_error(error)

    return SafeStringsRule


def string_refusal(value: str, max_length: int) -> GraphQLError | None:
    problem = unsafe_text(value)
    if problem is not None:
        return limit_error(
            "INVALID_CHARACTER",
            "文字列に使用できない文字（NUL または不正なサロゲート）が含まれています",
            f"A string contains a character that is not allowed ({problem})",
        )
    if len(value) > max_length:
        return limit_error(
            "INPUT_TOO_LONG",
            f"文字列が長すぎます（{len(value)} 文字、上限 {max_length} 文字）",
            f"A string is too long ({len(value)} characters, limit {max_length})",
            limit=max_length,
        )
    return None


# --- extensions ---------------------------------------------------------------------------


def graphql_limits(
    settings: PlatformSettings, *, subgraph: bool = False
) -> list[Callable[[], SchemaExtension]]:
    """Strawberry extension factories applying the platform's limits to every document.

    Parsing and validation are cached per document text (bounded LRU); the rules are built once
    so that the validation cache, keyed by the rules too, hits across requests. On a subgraph the
    gateway's forwarding adds a level (``_entities``), its own ``_gw_`` aliases and their tokens,
    so depth gets one more level, those aliases are not counted and tokens get twice the room."""
    rules: list[type[ASTValidationRule]] = [
        depth_rule(settings.max_query_depth + (1 if subgraph else 0), None),
        alias_rule(settings.max_aliases, "_gw_" if subgraph else None),
        cost_rule(settings.max_query_cost, settings.default_list_size),
        string_rule(settings.max_string_length),
    ]
    if not settings.introspection_enabled:
        rules.append(NoSchemaIntrospectionCustomRule)
    tokens = settings.max_query_tokens * (2 if subgraph else 1)
    return [
        functools.partial(MaxTokensLimiter, max_token_count=tokens),
        functools.partial(ParserCache, maxsize=DOCUMENT_CACHE_SIZE),
        functools.partial(AddValidationRules, rules),
        functools.partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
    ]


# --- request guard ------------------------------------------------------------------------


class RequestTooLarge(Exception):
    pass


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_request(body: Any, settings: PlatformSettings) -> GraphQLError | None:
    """Refuse oversized variables and unsafe strings in a decoded GraphQL request body."""
    requests = body if isinstance(body, list) else [body]
    for request in requests:
        if not isinstance(request, dict):
            continue
        variables = request.get("variables")
        if variables:
            size = len(json.dumps(variables, ensure_ascii=False).encode("utf-8", "surrogatepass"))
            if size > settings.max_variables_bytes:
                return limit_error(
                    "VARIABLES_TOO_LARGE",
                    f"変数が大きすぎます（{size} バイト、上限 {settings.max_variables_bytes}）",
                    f"The variables are too large ({size} bytes, limit "
                    f"{settings.max_variables_bytes})",
                    limit=settings.max_variables_bytes,
                )
        for text in _strings([variables, request.get("operationName")]):
            error = string_refusal(text, settings.max_string_length)
            if error is not None:
                return error
        query = request.get("query")
        if isinstance(query, str) and unsafe_text(query):
            return string_refusal(query, len(query))
    return None


class RequestGuard:
    """ASGI middleware in front of a GraphQL endpoint: a body larger than ``max_body_bytes`` is
    refused with 413 before it is read further, and variables that are too large or hold unsafe
    strings with 400, both with a GraphQL error body."""

    def __init__(self, app: ASGIApp, settings: PlatformSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.settings.max_body_bytes
        try:
            if scope.get("method") == "GET":
                body = _query_params_request(scope)
                replay = receive
            else:
                raw = await _read_body(scope, receive, limit)
                replay = _replaying(raw, receive)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None  # not JSON: Strawberry answers it
        except RequestTooLarge:
            error = limit_error(
                "REQUEST_TOO_LARGE",
                f"リクエストが大きすぎます（上限 {limit} バイト）",
                f"The request body is too large (limit {limit} bytes)",
                limit=limit,
            )
            await _error_response(scope, receive, send, error, 413)
            return
        refusal = check_request(body, self.settings) if body is not None else None
        if refusal is not None:
            await _error_response(scope, receive, send, refusal, 400)
            return
        await self.app(scope, replay, send)


def _query_params_request(scope: Scope) -> dict[str, Any] | None:
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    request: dict[str, Any] = {}
    if "query" in params:
        request["query"] = params["query"][0]
    if "variables" in params:
        try:
            request["variables"] = json.loads(params["variables"][0])
        except ValueError:
            return None
    return request or None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise RequestTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(raw: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


async def _error_response(
    scope: Scope, receive: Receive, send: Send, error: GraphQLError, status: int
) -> None:
    response = JSONResponse({"data": None, "errors": [error.formatted]}, status_code=status)
    await response(scope, receive, send)


__all__ = [
    "RequestGuard",
    "check_request",
    "estimate_cost",
    "graphql_limits",
    "limit_error",
    "unsafe_text",
]
