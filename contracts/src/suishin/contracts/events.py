"""The event catalogue: one envelope, versioned payloads.

Every message on a Suishin topic is an :class:`Envelope` serialised as JSON. ``event_type`` names
the payload model and ``schema_version`` its version; consumers parse with :func:`parse_event`,
which raises :class:`EventRejected` with a machine-readable reason for anything they must not
apply (the reason goes to the dead-letter topic's headers).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar
from uuid import UUID, uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from suishin.contracts import topics
from suishin.contracts.calendar import parse_period
from suishin.contracts.enums import (
    IndicatorStatus,
    MeasureStatus,
    ProgressReportState,
    ScheduleAdherence,
    Severity,
)

TenantId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,62}$")]
"""A municipality's slug, e.g. ``itabashi``."""

Period = Annotated[
    str,
    StringConstraints(pattern=r"^(FY\d{4}|\d{4}-(0[1-9]|1[0-2])|\d{4}-\d{2}-\d{2})$"),
]
"""A reporting period: fiscal year ``FY2024``, month ``2024-08`` or as-of date ``2024-08-01``."""


def _canonical_period(value: Any) -> Any:
    """Any period form the GraphQL API accepts (令和3年度, R3, 2021年度, FY2021, 令和6年8月,
    R6.8, 令和6年8月1日現在 ...) in its canonical form; a string that is not a period is refused
    with the calendar's bilingual message."""
    if not isinstance(value, str):
        return value
    # only short texts are cached, so the cache stays small whatever producers send
    return _cached_period(value) if len(value) <= 40 else parse_period(value)


@functools.lru_cache(maxsize=4096)
def _cached_period(text: str) -> str:
    # A stream of reports repeats a handful of periods; reading one costs ~10 µs, a cache hit
    # well under one. Refusals raise and are not cached.
    return parse_period(text)


ReportedPeriod = Annotated[
    str,
    BeforeValidator(_canonical_period),
    StringConstraints(pattern=r"^(FY\d{4}|\d{4}-(0[1-9]|1[0-2])|\d{4}-\d{2}-\d{2})$"),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 40,
            "description": (
                "The reporting period in any form the GraphQL API accepts: fiscal year (FY2021, "
                "令和3年度, R3, 2021年度), month (2021-08, 令和3年8月, R3.8) or as-of date "
                "(2021-08-01, 令和3年8月1日現在). Consumers receive and store the canonical form "
                "FY2021 / 2021-08 / 2021-08-01."
            ),
            "examples": ["FY2021", "令和3年度", "R3", "2021-08", "令和3年8月1日"],
        },
        mode="validation",
    ),
]
"""A period as a reporter writes it, stored and forwarded canonical (see :data:`Period`)."""

ReportPeriod = Annotated[str, StringConstraints(pattern=r"^FY\d{4}(-H1)?$")]
"""A progress report's period: fiscal year ``FY2024`` or its half-year interim ``FY2024-H1``."""


class TraceContext(BaseModel):
    """W3C trace context plus the event that caused this one."""

    model_config = ConfigDict(frozen=True)

    traceparent: str | None = None
    correlation_id: str | None = None
    causation_id: UUID | None = None


class Payload(BaseModel):
    """Base of every payload; the class variables bind it to its type and version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str]


P = TypeVar("P", bound=Payload)


class Envelope(BaseModel, Generic[P]):
    """Metadata shared by every event, around a typed payload."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID = Field(default_factory=uuid4)
    event_type: str
    schema_version: int = Field(ge=1)
    tenant: TenantId
    aggregate_id: str = Field(min_length=1)
    aggregate_version: int | None = Field(default=None, ge=0)
    occurred_at: AwareDatetime
    producer: str = Field(min_length=1)
    trace: TraceContext = Field(default_factory=TraceContext)
    payload: P

    @property
    def topic(self) -> str:
        return self.payload.topic

    @property
    def key(self) -> bytes:
        return topics.partition_key(self.tenant, self.aggregate_id)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


# --- payloads ---------------------------------------------------------------------------------


class IndicatorReported(Payload):
    """An actual (実績) reported by an external system or a 所管課 for one indicator and period."""

    event_type: ClassVar[str] = "indicator.reported"
    topic: ClassVar[str] = topics.INDICATOR_REPORTED

    indicator_key: str = Field(min_length=1, max_length=200)
    period: ReportedPeriod
    value: Decimal | None = Field(
        default=None,
        max_digits=38,
        description="Numeric value; null for qualitative milestones. At most 38 digits.",
    )
    text_value: str | None = Field(
        default=None, max_length=2000, description="Milestone text, e.g. 構築完了."
    )
    unit: str | None = Field(
        default=None, max_length=40, description="Unit as sent; checked against the definition."
    )
    source: str = Field(min_length=1, max_length=200, description="Reporting system or person.")
    idempotency_key: str = Field(min_length=1, max_length=200)
    reported_by: str | None = None
    is_correction: bool = Field(
        default=False, description="Supersedes the current value for the period."
    )
    comment: str | None = Field(default=None, max_length=2000)


class Figures(BaseModel):
    """The numbers an evaluation used, so a reader can see why a status is what it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actual: Decimal | None = None
    target: Decimal | None = None
    expected_to_date: Decimal | None = None
    comparator: str | None = None
    unit: str | None = None
    target_text: str | None = None
    year_actual: Decimal | None = Field(
        default=None,
        description=(
            "The fiscal year's own figure when `actual` is a running total over a multi-year"
            " target (cumulative rules); null otherwise."
        ),
    )


class IndicatorStatusChanged(Payload):
    """An indicator's evaluated status for a period changed."""

    event_type: ClassVar[str] = "indicator.status_changed"
    topic: ClassVar[str] = topics.INDICATOR_STATUS_CHANGED

    indicator_id: UUID
    indicator_key: str
    title: str
    period: Period
    fiscal_year: int
    from_status: IndicatorStatus | None
    to_status: IndicatorStatus
    figures: Figures
    rule: str = Field(description="Name of the evaluation rule used.")
    reason: str = Field(description="Human-readable explanation (Japanese).")
    measure_ids: list[UUID] = Field(default_factory=list)
    department_codes: list[str] = Field(default_factory=list)
    plan_ids: list[UUID] = Field(default_factory=list)


class MeasureStatusChanged(Payload):
    """A measure's lifecycle status (新規/継続/…) changed."""

    event_type: ClassVar[str] = "measure.status_changed"
    topic: ClassVar[str] = topics.MEASURE_STATUS_CHANGED

    measure_id: UUID
    plan_id: UUID
    code: str
    title: str
    from_status: MeasureStatus | None
    to_status: MeasureStatus
    changed_by: str
    reason: str
    department_codes: list[str] = Field(default_factory=list)
    level_label: str | None = Field(
        default=None, description="The plan's own word for the measure's level, e.g. 取組."
    )


class MeasureEvaluated(Payload):
    """A measure's yearly grade was computed or overridden."""

    event_type: ClassVar[str] = "measure.evaluated"
    topic: ClassVar[str] = topics.MEASURE_EVALUATED

    measure_id: UUID
    plan_id: UUID
    code: str
    title: str
    fiscal_year: int
    grade: str = Field(description="Code on the tenant's scale, e.g. achieved_plus.")
    grade_label: str = Field(description="Label as printed, e.g. 達成＋.")
    machine_grade: str | None
    previous_grade: str | None
    is_override: bool = False
    is_failing: bool = Field(description="True when the grade is the scale's failing grade.")
    consecutive_failing_years: int = 0
    reason: str | None = None
    department_codes: list[str] = Field(default_factory=list)
    level_label: str | None = Field(
        default=None, description="The plan's own word for the measure's level, e.g. 取組."
    )


class NotificationDelivered(Payload):
    """A notification reached (or finally failed to reach) a recipient on one channel."""

    event_type: ClassVar[str] = "notification.delivered"
    topic: ClassVar[str] = topics.NOTIFICATION_DELIVERED

    notification_id: UUID
    recipient_id: str
    channel: Literal["inbox", "email", "webhook"]
    status: Literal["delivered", "failed"]
    attempts: int = Field(ge=1)
    severity: Severity
    source_event_id: UUID | None = None
    kind: str = Field(description="What happened, e.g. indicator_off_track, measure_failing.")
    title: str
    body: str | None = None
    link: str | None = Field(
        default=None, description="Entity the notice is about, e.g. Indicator:<id>."
    )
    error: str | None = None


class ProgressReportEvent(Payload):
    """Shared fields of the progress-report (進捗報告) workflow's events.

    All of them travel on ``progress_report.workflow`` with ``aggregate_id`` =
    ``<measure id>:<period>``, so one measure's report for one period keeps its order.
    """

    topic: ClassVar[str] = topics.PROGRESS_REPORT_WORKFLOW

    measure_id: UUID
    plan_id: UUID
    code: str = Field(description="The measure's printed code, e.g. 12 or Ⅲ-2.")
    title: str
    level_label: str = Field(
        default="施策", description="The plan's own word for the measure's level, e.g. 取組."
    )
    period: ReportPeriod
    fiscal_year: int
    department_codes: list[str] = Field(
        default_factory=list, description="Owning departments (所管課), lead first."
    )


class ProgressReportTransitioned(ProgressReportEvent):
    """Base of one workflow step of one report version; every step is kept in its history."""

    report_id: UUID
    report_version: int = Field(
        ge=1, description="1, or higher for a corrected version of a published report."
    )
    from_state: ProgressReportState | None
    to_state: ProgressReportState
    actor: str = Field(description="Subject of the user who made the step.")
    comment: str | None = Field(default=None, max_length=4000)
    grade: str | None = Field(default=None, description="Grade code on the tenant's scale.")
    grade_label: str | None = None


class ProgressReportSubmitted(ProgressReportTransitioned):
    """A 所管課 submitted (or resubmitted) its report to the 事務局."""

    event_type: ClassVar[str] = "progress_report.submitted"


class ProgressReportReturned(ProgressReportTransitioned):
    """The 事務局 returned a report to its 所管課 with a comment."""

    event_type: ClassVar[str] = "progress_report.returned"


class ProgressReportAccepted(ProgressReportTransitioned):
    """The 事務局 accepted a report; it waits for the 本部's approval."""

    event_type: ClassVar[str] = "progress_report.accepted"


class ProgressReportApproved(ProgressReportTransitioned):
    """The DX推進本部 / CIO approved a report, possibly overriding its grade."""

    event_type: ClassVar[str] = "progress_report.approved"

    is_grade_override: bool = False
    self_assessed_grade: str | None = None


class ProgressReportPublished(ProgressReportTransitioned):
    """A report is public (what the ward puts on its website)."""

    event_type: ClassVar[str] = "progress_report.published"


class SlippedTrack(BaseModel):
    """One schedule track that is behind its plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    track: str = Field(description="The track's name as printed, e.g. 運用; empty if only one.")
    planned: str | None = Field(default=None, description="The year's cell as printed.")
    adherence: ScheduleAdherence
    note: str | None = Field(default=None, max_length=2000)


class ScheduleSlipped(ProgressReportEvent):
    """A submitted report says a track is 遅延 or 未着手 after the year the plan set for it."""

    event_type: ClassVar[str] = "progress_report.schedule_slipped"

    report_id: UUID
    report_version: int = Field(ge=1)
    tracks: list[SlippedTrack] = Field(min_length=1)
    reported_by: str


class ProgressReportDueSoon(ProgressReportEvent):
    """A reminder: the report for the period is due soon and not yet submitted."""

    event_type: ClassVar[str] = "progress_report.due_soon"

    due_on: date
    days_left: int = Field(ge=0)


class ProgressReportOverdue(ProgressReportEvent):
    """The deadline passed and no report for the period was submitted (once per measure)."""

    event_type: ClassVar[str] = "progress_report.overdue"

    due_on: date
    days_overdue: int = Field(ge=1)


class PlanMilestoneDue(Payload):
    """A dated milestone the plan prints (a mid-term review, a national deadline) is near or due.

    Sent once per milestone and reminder step (``days_left`` as configured, 0 on the day).
    """

    event_type: ClassVar[str] = "plan.milestone_due"
    topic: ClassVar[str] = topics.PLAN_MILESTONE_DUE

    plan_id: UUID
    plan_title: str
    milestone_key: str = Field(min_length=1, max_length=200)
    title: str = Field(description="The milestone as printed, e.g. 中間見直し.")
    due_on: date
    days_left: int = Field(ge=0)
    node_id: UUID | None = Field(default=None, description="The measure or goal it belongs to.")
    code: str | None = None
    level_label: str | None = None
    department_codes: list[str] = Field(default_factory=list)


CATALOGUE: dict[tuple[str, int], type[Payload]] = {
    (model.event_type, model.schema_version): model
    for model in (
        IndicatorReported,
        IndicatorStatusChanged,
        MeasureStatusChanged,
        MeasureEvaluated,
        NotificationDelivered,
        ProgressReportSubmitted,
        ProgressReportReturned,
        ProgressReportAccepted,
        ProgressReportApproved,
        ProgressReportPublished,
        ScheduleSlipped,
        ProgressReportDueSoon,
        ProgressReportOverdue,
        PlanMilestoneDue,
    )
}


# --- building and parsing -------------------------------------------------------------------


def new_event(
    payload: P,
    *,
    tenant: str,
    aggregate_id: str,
    producer: str,
    aggregate_version: int | None = None,
    occurred_at: datetime | None = None,
    trace: TraceContext | None = None,
) -> Envelope[P]:
    """Wrap a payload in a fresh envelope."""
    return _envelope_of(type(payload))(
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        tenant=tenant,
        aggregate_id=aggregate_id,
        aggregate_version=aggregate_version,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        trace=trace or TraceContext(),
        payload=payload,
    )


class EventRejected(Exception):
    """An event a consumer must not apply. ``reason`` is a stable code for the DLQ header."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


MAX_EVENT_BYTES = 256 * 1024
"""Largest message body a consumer parses; a bigger one is refused unread (``too_large``)."""
MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted (an envelope needs 4)."""
MAX_NUMBER_CHARS = 40
"""Longest JSON number literal accepted."""
MAX_NUMBER_EXPONENT = 100
"""Largest decimal exponent (either sign) of a JSON number accepted."""

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = frozenset(b"[{")


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in ``raw`` (brackets inside strings do not count).

    Cheap: without more brackets than :data:`MAX_JSON_DEPTH` the count is an upper bound and
    nothing is scanned; otherwise strings are cut out and only the brackets walked, in C loops
    but one.
    """
    opening = raw.count(b"[") + raw.count(b"{")
    if opening <= MAX_JSON_DEPTH:
        return opening
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_A_BRACKET)
    steps = (1 if c in _OPENING else -1 for c in brackets)
    return max(itertools.accumulate(steps), default=0)


class _NumberOutOfRange(ValueError):
    pass


def _bounded_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _NumberOutOfRange(f"integer of {len(literal)} characters")
    return int(literal)


def _bounded_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _NumberOutOfRange(f"number of {len(literal)} characters")
    exponent = Decimal(literal).adjusted()
    if abs(exponent) > MAX_NUMBER_EXPONENT:
        raise _NumberOutOfRange(f"number {literal[:20]!r} has exponent {exponent}")
    return float(literal)


def _reject_constant(name: str) -> float:
    raise _NumberOutOfRange(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(
    parse_int=_bounded_int, parse_float=_bounded_float, parse_constant=_reject_constant
)
"""The bounded decoder, built once (``json.loads`` with hooks builds one per call)."""


def parse_event(raw: bytes | str | None, *, expect: type[P] | None = None) -> Envelope[Any]:
    """Parse and validate one message body against the catalogue, with bounds checked first.

    Reasons: ``empty_message`` (no body, e.g. a Kafka tombstone), ``too_large`` (more than
    :data:`MAX_EVENT_BYTES`), ``too_deeply_nested`` (more than :data:`MAX_JSON_DEPTH`),
    ``number_out_of_range`` (a number literal longer than :data:`MAX_NUMBER_CHARS` or with an
    exponent beyond :data:`MAX_NUMBER_EXPONENT`, NaN, Infinity), ``malformed_json``,
    ``not_an_envelope``, ``missing_tenant``, ``unknown_event_type``,
    ``unsupported_schema_version``, ``unexpected_event_type``, ``invalid_envelope`` (including
    a non-string ``event_type`` or a non-integer ``schema_version``), ``invalid_payload``.
    """
    if raw is None or len(raw) == 0:
        raise EventRejected("empty_message", "the message has no body (a tombstone?)")
    if isinstance(raw, str):
        try:
            raw = raw.encode()
        except UnicodeEncodeError as exc:
            raise EventRejected("malformed_json", str(exc)) from exc
    if len(raw) > MAX_EVENT_BYTES:
        raise EventRejected(
            "too_large", f"the message has {len(raw)} bytes; at most {MAX_EVENT_BYTES} are read"
        )
    if (depth := json_depth(raw)) > MAX_JSON_DEPTH:
        raise EventRejected("too_deeply_nested", f"nesting depth {depth} exceeds {MAX_JSON_DEPTH}")
    try:
        # what json.loads(raw, ...) does, without building a decoder for every message
        data = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except _NumberOutOfRange as exc:
        raise EventRejected("number_out_of_range", str(exc)) from exc
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EventRejected("malformed_json", str(exc)[:300]) from exc
    if not isinstance(data, dict):
        raise EventRejected("not_an_envelope", f"expected a JSON object, got {type(data).__name__}")
    if not data.get("tenant"):
        raise EventRejected("missing_tenant", "the envelope has no tenant")
    event_type, version = data.get("event_type"), data.get("schema_version")
    if event_type is not None and not isinstance(event_type, str):
        raise EventRejected(
            "invalid_envelope", f"event_type: expected a string, got {type(event_type).__name__}"
        )
    if version is not None and type(version) is not int:
        raise EventRejected(
            "invalid_envelope",
            f"schema_version: expected an integer, got {type(version).__name__}",
        )
    if event_type not in _EVENT_TYPES:
        raise EventRejected("unknown_event_type", f"unknown event_type {event_type!r}")
    model = CATALOGUE.get((event_type, version))  # type: ignore[arg-type]
    if model is None:
        known = sorted(v for t, v in CATALOGUE if t == event_type)
        raise EventRejected(
            "unsupported_schema_version",
            f"{event_type} schema_version {version!r} is not supported (known: {known})",
        )
    if expect is not None and not issubclass(model, expect):
        # ``expect`` may be the base of a topic's several types (ProgressReportEvent)
        expected = getattr(expect, "event_type", None) or expect.__name__
        raise EventRejected("unexpected_event_type", f"{event_type} is not {expected}")
    try:
        return _envelope_of(model).model_validate(data)
    except ValidationError as exc:
        where = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        reason = "invalid_payload" if where == {"payload"} else "invalid_envelope"
        raise EventRejected(reason, _summarise(exc)) from exc


_EVENT_TYPES = frozenset(t for t, _ in CATALOGUE)


@functools.cache
def _envelope_of(model: type[Payload]) -> type[Envelope[Any]]:
    """``Envelope[model]``, looked up once per payload type and held here: pydantic's own
    lookup costs ~1 µs an event, and its cache holds the class weakly, so a type a process
    only writes was built again (~1 ms) after each full garbage collection."""
    return Envelope[model]  # type: ignore[valid-type]


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
