"""GraphQL subgraph of the plans service (Strawberry, federation v2).

Queries are scoped by tenant: a caller reads its own ward's plans (drafts and internal fields
included when it holds an internal role); anyone, anonymous included, reads published plans.
Mutations return a typed payload whose ``errors`` carry Japanese and English messages; a
refused mutation writes nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from suishin.contracts.enums import MeasureStatus as MeasureStatusValue
from suishin.kit.errors import DomainError, Forbidden, NotFound, UserError
from suishin.kit.graphql import context_of
from suishin.plans import commands, evaluation, storage
from suishin.plans.commands import MeasureEdit, MultipleErrors, OwnerInput
from suishin.plans.schema_types import (
    Department,
    GradeScaleType,
    Measure,
    MeasureConnection,
    MeasureEdge,
    MeasureGrade,
    MeasureStatus,
    PageInfo,
    Plan,
    can_see_plan,
    grades_view,
    graphql_error,
    is_internal,
    loaders,
    principal_of,
)
from suishin.plans.storage import Conn

T = TypeVar("T")

MAX_PAGE = 500


def _uuid(value: str, what_ja: str, what_en: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise NotFound(what_ja, what_en, str(value)) from exc


@strawberry.input(description="Filters of the measure list; all given filters must match.")
class MeasureFilter:
    department: str | None = strawberry.field(
        default=None, description="Department code among the owners."
    )
    status: MeasureStatus | None = strawberry.field(default=None, description="Lifecycle status.")
    tag: str | None = strawberry.field(default=None, description="Tag code.")
    grade: str | None = strawberry.field(
        default=None, description="Grade code or label (the grade that counts)."
    )
    fiscal_year: int | None = strawberry.field(
        default=None,
        description="With grade: the year of the grade. Alone: measures scheduled or graded "
        "that year.",
    )
    text: str | None = strawberry.field(default=None, description="Substring of title or code.")


async def _measure_page(
    info: Info[Any, Any],
    plan_id: strawberry.ID,
    filter: MeasureFilter | None,
    first: int,
    after: str | None,
) -> MeasureConnection:
    pool = context_of(info).runtime.pool
    pid = _uuid(str(plan_id), "計画", "Plan")
    plan = await loaders(info).plan.load(pid)
    if plan is None or not can_see_plan(principal_of(info), plan):
        raise graphql_error(NotFound("計画", "Plan", str(plan_id)))
    if not 1 <= first <= MAX_PAGE:
        raise graphql_error(
            DomainError(
                "INVALID_PAGE_SIZE",
                f"first は1〜{MAX_PAGE}で指定してください",
                f"first must be between 1 and {MAX_PAGE}",
                field="first",
            )
        )
    cursor = storage.decode_cursor(after) if after else None
    if after and cursor is None:
        raise graphql_error(
            DomainError("INVALID_CURSOR", "カーソルが不正です", "Invalid cursor", field="after")
        )
    f = filter or MeasureFilter()
    grade = None
    if f.grade:
        scale = await loaders(info).plan_scale.load(pid)
        try:
            grade = scale.grade(f.grade).code
        except DomainError as exc:
            raise graphql_error(exc) from exc
    rows, total = await storage.search_measures(
        pool,
        pid,
        storage.MeasureFilter(
            department=f.department,
            status=f.status.value if f.status else None,
            tag=f.tag,
            grade=grade,
            fiscal_year=f.fiscal_year,
            text=f.text,
        ),
        first=first,
        after=cursor,
    )
    page = rows[:first]
    edges = [
        MeasureEdge(cursor=storage.encode_cursor(r["sort_key"]), node=Measure.of(r)) for r in page
    ]
    return MeasureConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            has_previous_page=cursor is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total,
    )


@strawberry.type(description="Plans, their trees and measures.")
class Query:
    @strawberry.field(
        description="Plans of a ward (default: the caller's). Drafts only for the ward's staff."
    )
    async def plans(self, info: Info[Any, Any], tenant: str | None = None) -> list[Plan]:
        principal = principal_of(info)
        tenant = tenant or principal.tenant
        if tenant is None:
            raise graphql_error(
                DomainError(
                    "TENANT_REQUIRED",
                    "自治体（tenant）を指定してください",
                    "Give a tenant (municipality) or sign in",
                    field="tenant",
                )
            )
        states = None if is_internal(principal, tenant) else ["published", "superseded"]
        rows = await storage.plans_of(context_of(info).runtime.pool, tenant, states)
        for row in rows:
            loaders(info).plan.prime(row["id"], row)
        return [Plan.of(r) for r in rows]

    @strawberry.field(description="A plan by id (null when unknown or not visible).")
    async def plan(self, info: Info[Any, Any], id: strawberry.ID) -> Plan | None:
        return await Plan.resolve_reference(info, id)

    @strawberry.field(description="A plan by tenant and key (null when unknown or not visible).")
    async def plan_by_key(self, info: Info[Any, Any], tenant: str, key: str) -> Plan | None:
        row = await storage.plan_by_key(context_of(info).runtime.pool, tenant, key)
        if row is None or not can_see_plan(principal_of(info), row):
            return None
        return Plan.of(row)

    @strawberry.field(description="A measure by id (null when unknown or not visible).")
    async def measure(self, info: Info[Any, Any], id: strawberry.ID) -> Measure | None:
        return await Measure.resolve_reference(info, id)

    @strawberry.field(description="Measures of a plan in tree order, filtered, paginated.")
    async def measures(
        self,
        info: Info[Any, Any],
        plan_id: strawberry.ID,
        filter: MeasureFilter | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> MeasureConnection:
        return await _measure_page(info, plan_id, filter, first, after)

    @strawberry.field(description="Departments of a ward (default: the caller's).")
    async def departments(
        self, info: Info[Any, Any], tenant: str | None = None
    ) -> list[Department]:
        tenant = tenant or principal_of(info).tenant
        if tenant is None:
            return []
        rows = await storage.departments(context_of(info).runtime.pool, tenant)
        return [
            Department(code=r["code"], name=r["name"], kind=r["kind"], parent_code=r["parent_code"])
            for r in rows
        ]

    @strawberry.field(description="The ward's yearly grade scale (default: the caller's ward).")
    async def grade_scale(
        self, info: Info[Any, Any], tenant: str | None = None
    ) -> GradeScaleType | None:
        tenant = tenant or principal_of(info).tenant
        if tenant is None:
            return None
        return GradeScaleType.of(await loaders(info).scale.load(tenant))


# --- mutations ----------------------------------------------------------------------------------


def _errors(exc: DomainError) -> list[UserError]:
    if isinstance(exc, MultipleErrors):
        return [UserError.of(e) for e in exc.errors]
    return [UserError.of(exc)]


async def _in_transaction(
    info: Info[Any, Any], work: Callable[[Conn], Awaitable[T]]
) -> tuple[T | None, list[UserError]]:
    """Run ``work`` in one transaction; a DomainError rolls it back and becomes UserErrors."""
    principal = principal_of(info)
    if principal.tenant is None:
        return None, [UserError.of(Forbidden("ログインが必要です", "Sign in first"))]
    try:
        async with context_of(info).runtime.pool.acquire() as conn, conn.transaction():
            return await work(conn), []
    except DomainError as exc:
        return None, _errors(exc)


async def _fresh_measure(info: Info[Any, Any], measure_id: UUID) -> Measure | None:
    rows = await storage.nodes_by_ids(context_of(info).runtime.pool, [measure_id])
    return Measure.of(rows[0]) if rows else None


@strawberry.type(description="Result of changeMeasureStatus.")
class ChangeMeasureStatusPayload:
    measure: Measure | None = strawberry.field(description="The measure after the change.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of overrideGrade.")
class OverrideGradePayload:
    measure: Measure | None = strawberry.field(description="The measure.")
    grade: MeasureGrade | None = strawberry.field(description="The grade of that year, after.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of updateMeasure.")
class UpdateMeasurePayload:
    measure: Measure | None = strawberry.field(description="The measure after the edit.")
    changed_fields: list[str] = strawberry.field(description="Fields that actually changed.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of publishPlan.")
class PublishPlanPayload:
    plan: Plan | None = strawberry.field(description="The plan after publication.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of supersedePlan.")
class SupersedePlanPayload:
    plan: Plan | None = strawberry.field(description="The superseded plan.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.input(description="An owner department of a measure.")
class MeasureOwnerInput:
    department_code: str = strawberry.field(description="Department code.")
    is_lead: bool = strawberry.field(default=False, description="The lead (主担当) department.")


@strawberry.input(description="Edits of a measure; omitted fields stay as they are.")
class UpdateMeasureInput:
    measure_id: strawberry.ID = strawberry.field(description="The measure.")
    reason: str = strawberry.field(description="Why (kept in the history).")
    title: str | None = strawberry.field(default=None, description="New title.")
    description: str | None = strawberry.field(
        default=None, description="New description (empty string clears it)."
    )
    owners: list[MeasureOwnerInput] | None = strawberry.field(
        default=None, description="The complete new list of owner departments."
    )
    others_text: str | None = strawberry.field(
        default=None, description="Open-ended owners as printed (ほか / 関係課)."
    )
    tags: list[str] | None = strawberry.field(default=None, description="The complete tag list.")


@strawberry.type(description="Lifecycle, grades and plan edits.")
class Mutation:
    @strawberry.mutation(
        description="Move a measure to another lifecycle status, with a reason. 完了/廃止/統合 "
        "are final unless the 事務局 reopens the measure."
    )
    async def change_measure_status(
        self, info: Info[Any, Any], measure_id: strawberry.ID, to: MeasureStatus, reason: str
    ) -> ChangeMeasureStatusPayload:
        principal = principal_of(info)
        try:
            mid = _uuid(str(measure_id), "施策", "Measure")
        except DomainError as exc:
            return ChangeMeasureStatusPayload(measure=None, errors=_errors(exc))

        async def work(conn: Conn) -> None:
            await commands.change_measure_status(
                conn, principal, mid, MeasureStatusValue(to.value), reason
            )

        _, errors = await _in_transaction(info, work)
        measure = await _fresh_measure(info, mid) if not errors else None
        return ChangeMeasureStatusPayload(measure=measure, errors=errors)

    @strawberry.mutation(
        description="Set the grade of a measure for a fiscal year (事務局/本部), with a reason; "
        "grade null clears the override. The machine grade is kept."
    )
    async def override_grade(
        self,
        info: Info[Any, Any],
        measure_id: strawberry.ID,
        fiscal_year: int,
        grade: str | None,
        reason: str,
    ) -> OverrideGradePayload:
        principal = principal_of(info)
        try:
            mid = _uuid(str(measure_id), "施策", "Measure")
        except DomainError as exc:
            return OverrideGradePayload(measure=None, grade=None, errors=_errors(exc))

        async def work(conn: Conn) -> None:
            await evaluation.override_grade(conn, principal, mid, fiscal_year, grade, reason)

        _, errors = await _in_transaction(info, work)
        if errors:
            return OverrideGradePayload(measure=None, grade=None, errors=errors)
        pool = context_of(info).runtime.pool
        measure = await _fresh_measure(info, mid)
        assert measure is not None
        scale = await storage.plan_scale(pool, measure.row["plan_id"])
        view = grades_view(
            await storage.grades_of(pool, [mid]),
            await storage.published_grades_of(pool, [mid]),
            scale,
            True,
            fiscal_year,
        )
        return OverrideGradePayload(measure=measure, grade=view[0] if view else None, errors=[])

    @strawberry.mutation(description="Edit a measure's title, description, owners or tags.")
    async def update_measure(
        self, info: Info[Any, Any], input: UpdateMeasureInput
    ) -> UpdateMeasurePayload:
        principal = principal_of(info)
        try:
            mid = _uuid(str(input.measure_id), "施策", "Measure")
        except DomainError as exc:
            return UpdateMeasurePayload(measure=None, changed_fields=[], errors=_errors(exc))
        edit = MeasureEdit(
            title=input.title,
            description=input.description,
            owners=[OwnerInput(o.department_code, o.is_lead) for o in input.owners]
            if input.owners is not None
            else None,
            others_text=input.others_text,
            tags=input.tags,
        )

        async def work(conn: Conn) -> list[str]:
            return await commands.update_measure(conn, principal, mid, edit, input.reason)

        changed, errors = await _in_transaction(info, work)
        if errors:
            return UpdateMeasurePayload(measure=None, changed_fields=[], errors=errors)
        return UpdateMeasurePayload(
            measure=await _fresh_measure(info, mid), changed_fields=changed or [], errors=[]
        )

    @strawberry.mutation(description="Publish a draft plan (事務局).")
    async def publish_plan(
        self, info: Info[Any, Any], plan_id: strawberry.ID, reason: str | None = None
    ) -> PublishPlanPayload:
        principal = principal_of(info)
        try:
            pid = _uuid(str(plan_id), "計画", "Plan")
        except DomainError as exc:
            return PublishPlanPayload(plan=None, errors=_errors(exc))

        async def work(conn: Conn) -> None:
            await commands.publish_plan(conn, principal, pid, reason)

        _, errors = await _in_transaction(info, work)
        if errors:
            return PublishPlanPayload(plan=None, errors=errors)
        row = await storage.plan(context_of(info).runtime.pool, pid)
        return PublishPlanPayload(plan=Plan.of(row) if row else None, errors=[])

    @strawberry.mutation(
        description="Mark a published plan as superseded (by a newer edition), with a reason."
    )
    async def supersede_plan(
        self,
        info: Info[Any, Any],
        plan_id: strawberry.ID,
        reason: str,
        by_plan_id: strawberry.ID | None = None,
    ) -> SupersedePlanPayload:
        principal = principal_of(info)
        try:
            pid = _uuid(str(plan_id), "計画", "Plan")
            by = _uuid(str(by_plan_id), "計画", "Plan") if by_plan_id else None
        except DomainError as exc:
            return SupersedePlanPayload(plan=None, errors=_errors(exc))

        async def work(conn: Conn) -> None:
            await commands.supersede_plan(conn, principal, pid, by, reason)

        _, errors = await _in_transaction(info, work)
        if errors:
            return SupersedePlanPayload(plan=None, errors=errors)
        row = await storage.plan(context_of(info).runtime.pool, pid)
        return SupersedePlanPayload(plan=Plan.of(row) if row else None, errors=[])


# --- execution: objects whose fields only read the object are completed in one loop ---------
# (The same in the plans and indicators subgraphs; a candidate for the kit.)

_READ = "suishin.read"  # GraphQLField.extensions: the field's value from its object alone
_CALL = "suishin.call"  # ... or from a synchronous method taking info and/or arguments


class _Slow(Exception):
    """The quick completion met what only the regular one handles (an error, a null, an
    awaitable)."""


@dataclass(frozen=True, slots=True)
class _Call:
    method: Callable[..., Any]
    info: str | None  # name of the method's info parameter
    field: StrawberryField


def _readers(schema: strawberry.Schema) -> strawberry.Schema:
    """Mark the fields :class:`_Executor` completes in its loop: attributes and synchronous
    methods (with or without info and arguments) without field extensions or permissions.
    Methods taking nothing but ``self`` are also called directly by the regular completion,
    not through Strawberry's resolver wrapping (Info, argument conversion, extension chain),
    which cost more than such a field. The schema (SDL) does not change."""
    for type_ in schema._schema.type_map.values():
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
    entity = schema._schema.type_map.get("_Entity")
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


class _Executor(StrawberryGraphQLCoreExecutionContext):
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


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


# Front ends send the same few documents over and over (and the gateway forwards the same
# selection for the same client query): parse and validate each text once.
schema = _entity_types(
    _readers(
        strawberry.federation.Schema(
            query=Query,
            mutation=Mutation,
            types=[Plan, Measure],
            federation_version="2.7",
            extensions=[ParserCache, ValidationCache],
            execution_context_class=_Executor,
        )
    )
)
