"""Durable batch ingest over HTTP: ``POST /ingest/indicator-reports``.

For producers that need an acknowledgement that survives a broker loss. On the embedded stack the
broker keeps everything in memory: a report it acknowledged but no consumer had applied yet is
gone if it restarts. This endpoint answers ``200`` only after the reports are committed to
PostgreSQL, with a result per item, so a producer that got the answer can forget the batch.

- Authentication as for the subgraph: ``Authorization: Bearer <token>``; the token's tenant is
  the tenant of every report; 所管課 reporters report for the indicators their department owns,
  事務局 (admin) for any (the rule of the ``reportActual`` mutation).
- Body: a JSON array (at most ``MAX_ITEMS`` items, ``MAX_BODY_BYTES`` bytes) of
  ``indicator.reported`` envelopes (as published to Kafka) or bare payloads (``indicator_key``,
  ``period``, ``value`` ..., ``source``, ``idempotency_key``).
- Idempotent: an envelope whose ``event_id`` was applied before (over HTTP or Kafka) and a report
  whose ``idempotency_key`` the tenant used before with the same content are ``duplicate``; the
  same key with other content is ``rejected`` (``idempotency_key_reused``). Retrying a whole
  batch after a timeout is therefore safe.
- Answer: ``{"results": [{"index", "status": "accepted" | "duplicate" | "rejected",
  "reason", "message", "event_id", "idempotency_key"}], "accepted", "duplicates", "rejected"}``.

The reports go through :func:`suishin.indicators.commands.ingest_claimed`: the inbox claims of the
Kafka consumer and :func:`suishin.indicators.commands.ingest` in one transaction, the same rules,
the same evaluation, the same events.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from suishin.contracts.events import Envelope, EventRejected, IndicatorReported, parse_event
from suishin.indicators import commands
from suishin.indicators.domain.model import ReportRejected, may_report_for
from suishin.indicators.domain.reports import Report
from suishin.indicators.handlers import CONSUMER
from suishin.indicators.runtime import IndicatorsRuntime
from suishin.indicators.storage.indicators import IndicatorRecord
from suishin.kit.auth import AuthError, principal_from_header

PATH = "/ingest/indicator-reports"
MAX_ITEMS = 1000
MAX_BODY_BYTES = 2 * 1024 * 1024


def _error(status: int, code: str, message_ja: str, message_en: str) -> Response:
    return JSONResponse(
        {"error": {"code": code, "message_ja": message_ja, "message_en": message_en}},
        status_code=status,
    )


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it exceeds ``MAX_BODY_BYTES`` (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def ingest_route(runtime: IndicatorsRuntime) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            principal = principal_from_header(
                runtime.settings, request.headers.get("authorization")
            )
        except AuthError:
            return _error(401, "UNAUTHENTICATED", "トークンが無効です", "invalid token")
        if principal.tenant is None:
            return _error(401, "UNAUTHENTICATED", "認証が必要です", "authentication required")
        if not may_report_for(principal, frozenset(principal.departments)):
            return _error(
                403,
                "FORBIDDEN",
                "実績を報告できるのは所管課と事務局です",
                "only reporters of the owning departments and admins may report actuals",
            )
        body = await _read_body(request)
        if body is None:
            return _error(
                413,
                "TOO_LARGE",
                f"一度に送れるのは {MAX_BODY_BYTES} バイトまでです",
                f"the body may hold at most {MAX_BODY_BYTES} bytes",
            )
        try:
            items = json.loads(body)
        except (ValueError, RecursionError):
            return _error(400, "MALFORMED_JSON", "JSON として読めません", "the body is not JSON")
        if not isinstance(items, list):
            return _error(
                400, "NOT_A_LIST", "報告の配列を送ってください", "send a JSON array of reports"
            )
        if len(items) > MAX_ITEMS:
            return _error(
                413,
                "TOO_MANY_ITEMS",
                f"一度に送れる報告は {MAX_ITEMS} 件までです",
                f"at most {MAX_ITEMS} reports per request",
            )
        tenant = principal.tenant
        results: list[dict[str, Any]] = [{} for _ in items]
        reports: list[tuple[int, Report]] = []
        now = datetime.now(UTC)
        for index, item in enumerate(items):
            try:
                report = _report(item, tenant, principal.subject, now)
            except EventRejected as rejected:
                results[index] = _result(index, "rejected", rejected.reason, rejected.detail)
                continue
            reports.append((index, report))

        def authorize(record: IndicatorRecord) -> ReportRejected | None:
            if may_report_for(principal, frozenset(record.owner_departments)):
                return None
            return ReportRejected(
                "forbidden",
                f"指標「{record.key}」の実績を報告できるのは所管課と事務局です",
                f"only the owning departments and admins may report {record.key!r}",
                "indicatorKey",
            )

        async with commands.transaction(runtime.pool) as conn:
            claimed = await commands.ingest_claimed(
                conn,
                CONSUMER,
                [r for _, r in reports],
                now=runtime.clock.now(),
                authorize=authorize,
            )
        result = claimed.result
        index_of = {id(r): i for i, r in reports}
        for report in claimed.seen:
            i = index_of[id(report)]
            results[i] = _result(i, "duplicate", "event_already_applied", "", report)
        for accepted in result.accepted:
            i = index_of[id(accepted.report)]
            results[i] = _result(i, "accepted", None, "", accepted.report)
        for report, _ in result.duplicates:
            i = index_of[id(report)]
            results[i] = _result(i, "duplicate", "idempotency_key_seen", "", report)
        for report, refusal in result.rejected:
            i = index_of[id(report)]
            message = f"{refusal.message_en} / {refusal.message_ja}"
            results[i] = _result(i, "rejected", refusal.code, message, report)
        runtime.ingested += len(result.accepted)
        if result.changes:
            runtime.wake_relay()
        counts = {s: sum(1 for r in results if r["status"] == s) for s in _STATUSES}
        return JSONResponse(
            {
                "results": results,
                "accepted": counts["accepted"],
                "duplicates": counts["duplicate"],
                "rejected": counts["rejected"],
            }
        )

    return Route(PATH, endpoint, methods=["POST"])


_STATUSES = ("accepted", "duplicate", "rejected")


def _report(item: Any, tenant: str, subject: str, now: datetime) -> Report:
    """One item as a report of ``tenant``: an envelope or a bare payload."""
    if isinstance(item, dict) and "payload" in item:
        event: Envelope[IndicatorReported] = parse_event(json.dumps(item), expect=IndicatorReported)
        if event.tenant != tenant:
            raise EventRejected(
                "foreign_tenant",
                f"the report is for tenant {event.tenant!r}, the token for {tenant!r}",
            )
        return _over_http(Report.from_event(event))
    if not isinstance(item, dict):
        raise EventRejected("not_an_object", f"expected a JSON object, got {type(item).__name__}")
    try:
        payload = IndicatorReported.model_validate(item)
    except ValidationError as exc:
        where = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise EventRejected("invalid_payload", f"invalid fields: {', '.join(where)}") from exc
    return Report(
        tenant=tenant,
        indicator_key=payload.indicator_key,
        period=payload.period,
        value=payload.value,
        text_value=payload.text_value,
        unit=payload.unit,
        source=payload.source,
        idempotency_key=payload.idempotency_key,
        occurred_at=now,
        reported_by=payload.reported_by or subject,
        is_correction=payload.is_correction,
        comment=payload.comment,
        via="http",
    )


def _over_http(report: Report) -> Report:
    return replace(report, via="http")


def _result(
    index: int, status: str, reason: str | None, message: str, report: Report | None = None
) -> dict[str, Any]:
    event_id: UUID | None = report.event_id if report else None
    return {
        "index": index,
        "status": status,
        "reason": reason,
        "message": message or None,
        "event_id": str(event_id) if event_id else None,
        "idempotency_key": report.idempotency_key if report else None,
    }
