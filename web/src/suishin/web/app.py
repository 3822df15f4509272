"""The portal: Starlette, server-rendered Jinja2 pages, small vanilla JS for live updates.

It talks to the platform only through the public GraphQL gateway (HTTP for queries and
mutations, graphql-transport-ws for the live inbox, relayed to the browser as Server-Sent
Events), with the signed-in user's token taken from the session."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from suishin.kit.tasks import cancel_and_wait
from suishin.web import queries, views
from suishin.web.auth import User, csrf_ok, csrf_token, current_user, safe_next, sign_in
from suishin.web.charts import fmt, points_of, series_svg
from suishin.web.gateway import Gateway, GatewayError, UserError
from suishin.web.i18n import (
    ADHERENCE_LABELS,
    LANGUAGES,
    MEASURE_STATUS,
    MUTABLE_KINDS,
    REPORT_STATE,
    STATUS_LABELS,
    label,
    translator,
)
from suishin.web.progress import ProgressPages
from suishin.web.settings import WebSettings
from suishin.web.users import demo_users

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
Handler = Callable[[Request], Awaitable[Response]]


class Portal:
    def __init__(
        self,
        settings: WebSettings,
        gateway: Gateway,
        oidc_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html", "j2"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["num"] = _num
        self.templates.filters["fy"] = views.fiscal_year_text
        self.templates.filters["when"] = views.when
        self.oauth: Any = None
        if settings.oidc_enabled:
            from authlib.integrations.starlette_client import OAuth

            client_kwargs: dict[str, Any] = {
                "scope": settings.oidc_scope,
                "code_challenge_method": "S256",  # PKCE
            }
            if oidc_transport is not None:  # tests: a fake issuer
                client_kwargs["transport"] = oidc_transport
            self.oauth = OAuth()
            issuer = str(settings.oidc_issuer).rstrip("/")
            self.oauth.register(
                name="oidc",
                server_metadata_url=f"{issuer}/.well-known/openid-configuration",
                client_id=settings.oidc_client_id,
                client_secret=settings.oidc_client_secret,
                client_kwargs=client_kwargs,
            )

    # -- rendering ---------------------------------------------------------------------------

    def lang(self, request: Request) -> str:
        lang = request.session.get("lang")
        return lang if lang in LANGUAGES else "ja"

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        lang = self.lang(request)
        user = current_user(request)
        html = self.templates.get_template(template).render(
            request=request,
            user=user,
            lang=lang,
            t=translator(lang),
            csrf=csrf_token(request),
            status_label=lambda code: label(STATUS_LABELS, code, lang),
            measure_status=lambda code: label(MEASURE_STATUS, code, lang),
            report_state=lambda code: label(REPORT_STATE, code, lang),
            adherence_label=lambda code: label(ADHERENCE_LABELS, code, lang),
            kind_label=lambda code: label(MUTABLE_KINDS, code, lang),
            muted_kinds=list(MUTABLE_KINDS),
            link_target=views.link_target,
            path=request.url.path,
            graphiql_url=self.settings.graphql_url.rsplit("/graphql", 1)[0] + "/graphiql",
            **context,
        )
        response = HTMLResponse(html, status_code=status_code)
        if user is not None:  # a signed-in page (and the GraphiQL hand-off) is never cached
            response.headers["cache-control"] = "no-store"
        return response

    def error_page(self, request: Request, status: int, key: str) -> HTMLResponse:
        return self.render(request, "error.html", status_code=status, message_key=key)

    async def ask(self, request: Request, document: str, **variables: Any) -> dict[str, Any]:
        user = current_user(request)
        return await self.gateway.query(document, user.token if user else None, **variables)

    async def plan_tree(self, token: str | None, plan_id: str) -> dict[str, Any] | None:
        """The plan's tree with every measure's owners, tags and grades attached."""
        data = await self.gateway.query(queries.PLAN_TREE, token, id=plan_id, after=None)
        plan = data["plan"]
        if plan is None:
            return None
        page = data["measures"]
        measures = [e["node"] for e in page["edges"]]
        while page["pageInfo"]["hasNextPage"]:
            more = await self.gateway.query(
                queries.MORE_MEASURES, token, id=plan_id, after=page["pageInfo"]["endCursor"]
            )
            page = more["measures"]
            measures += [e["node"] for e in page["edges"]]
        return views.attach(plan, measures)

    def token_of(self, request: Request) -> str | None:
        user = current_user(request)
        return user.token if user else None

    # -- sign-in -----------------------------------------------------------------------------

    async def signin_page(self, request: Request) -> Response:
        users = (
            demo_users(Path(self.settings.datasets_dir)) if self.settings.dev_login_enabled else []
        )
        return self.render(
            request,
            "signin.html",
            demo_users=users,
            oidc=self.settings.oidc_enabled,
            next=safe_next(request.query_params.get("next"), "/"),
        )

    async def signin_dev(self, request: Request) -> Response:
        if not self.settings.dev_login_enabled:
            raise HTTPException(404)
        form = await request.form()
        if not csrf_ok(request, form.get("csrf")):
            return self.error_page(request, 400, "csrf")
        subject = str(form.get("subject", ""))
        user = next(
            (u for u in demo_users(Path(self.settings.datasets_dir)) if u.subject == subject), None
        )
        if user is None:
            return self.error_page(request, 400, "not_found")
        token = user.token(self.settings, self.settings.session_max_age)
        me = (await self.gateway.query(queries.ME, token))["me"]
        sign_in(request, me, token, self.settings)
        log.info("signed in", extra={"subject": me["subject"], "via": "dev"})
        return RedirectResponse(safe_next(str(form.get("next", "")), "/"), status_code=303)

    async def signin_oidc(self, request: Request) -> Response:
        if self.oauth is None:
            raise HTTPException(404)
        request.session["after_signin"] = safe_next(request.query_params.get("next"), "/")
        redirect_uri = self.callback_url(request)
        response: Response = await self.oauth.oidc.authorize_redirect(request, redirect_uri)
        return response

    def callback_url(self, request: Request) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/") + "/auth/callback"
        return str(request.url_for("oidc_callback"))

    async def oidc_callback(self, request: Request) -> Response:
        if self.oauth is None:
            raise HTTPException(404)
        from authlib.integrations.base_client.errors import OAuthError

        try:
            tokens = await self.oauth.oidc.authorize_access_token(request)
        except OAuthError as exc:
            log.info("oidc sign-in refused", extra={"error": exc.error})
            return self.error_page(request, 400, "csrf")
        token = tokens.get(self.settings.oidc_token_claim)
        if not isinstance(token, str):
            return self.error_page(request, 400, "forbidden")
        try:
            me = (await self.gateway.query(queries.ME, token))["me"]
        except GatewayError:
            return self.error_page(request, 403, "forbidden")
        target = safe_next(request.session.get("after_signin"), "/")
        sign_in(request, me, token, self.settings)
        log.info("signed in", extra={"subject": me["subject"], "via": "oidc"})
        return RedirectResponse(target, status_code=303)

    async def signout(self, request: Request) -> Response:
        form = await request.form()
        if csrf_ok(request, form.get("csrf")):
            lang = request.session.get("lang")
            request.session.clear()
            if lang:
                request.session["lang"] = lang
        return RedirectResponse("/signin", status_code=303)

    async def set_language(self, request: Request) -> Response:
        lang = request.query_params.get("lang")
        if lang in LANGUAGES:
            request.session["lang"] = lang
        return RedirectResponse(safe_next(request.query_params.get("next"), "/"), status_code=303)

    # -- pages -------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        user = current_user(request)
        assert user is not None
        plans = (await self.ask(request, queries.PLANS))["plans"]
        return self.render(request, "home.html", plans=plans)

    async def plan(self, request: Request) -> Response:
        plan_id = request.path_params["plan_id"]
        plan = await self.plan_tree(self.token_of(request), plan_id)
        if plan is None:
            return self.error_page(request, 404, "not_found")
        filters = {
            k: request.query_params.get(k, "")
            for k in ("department", "status", "tag", "grade", "year")
        }
        years, labels, counts = views.grade_counts(plan)
        return self.render(
            request,
            "plan.html",
            plan=plan,
            tree=views.filter_tree(plan["nodes"], filters),
            filters=filters,
            departments=views.departments_of(plan),
            years=years,
            grade_labels=labels,
            counts=counts,
            grade_of=views.grade_of,
            statuses=list(MEASURE_STATUS),
        )

    async def measure(self, request: Request) -> Response:
        data = await self.ask(request, queries.MEASURE, id=request.path_params["measure_id"])
        measure = data["measure"]
        if measure is None:
            return self.error_page(request, 404, "not_found")
        t = translator(self.lang(request))
        charts = {
            i["id"]: series_svg(
                points_of(i["series"]), title=f"{i['title']} — {t('chart_alt')}", unit=i["unit"]
            )
            for i in measure["indicators"]
        }
        for i in measure["indicators"]:
            i["focus"] = views.focus_status(i)
        return self.render(
            request,
            "measure.html",
            measure=measure,
            charts=charts,
            public_ids=views.newest_published(measure["progressReports"]),
        )

    async def indicator(self, request: Request) -> Response:
        data = await self.ask(request, queries.INDICATOR, id=request.path_params["indicator_id"])
        indicator = data["indicator"]
        if indicator is None:
            return self.error_page(request, 404, "not_found")
        t = translator(self.lang(request))
        chart = series_svg(
            points_of(indicator["series"]),
            title=f"{indicator['title']} — {t('chart_alt')}",
            unit=indicator["unit"],
        )
        indicator["focus"] = views.focus_status(indicator)
        return self.render(request, "indicator.html", indicator=indicator, chart=chart)

    async def inbox(self, request: Request) -> Response:
        data = await self.ask(request, queries.INBOX)
        notices = [e["node"] for e in data["myInbox"]["edges"]]
        return self.render(
            request,
            "inbox.html",
            notices=notices,
            unread=data["unreadCount"],
            errors=request.session.pop("ack_errors", {}),
        )

    async def acknowledge(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request, form.get("csrf")):
            return self.error_page(request, 400, "csrf")
        notice_id = request.path_params["notification_id"]
        comment = str(form.get("comment", "")).strip() or None
        data = await self.ask(request, queries.ACKNOWLEDGE, id=notice_id, comment=comment)
        errors = [UserError.of(e) for e in data["acknowledge"]["errors"]]
        if errors:
            lang = self.lang(request)
            request.session["ack_errors"] = {
                notice_id: {"text": errors[0].text(lang), "comment": comment or ""}
            }
        else:
            with contextlib.suppress(GatewayError):
                await self.ask(request, queries.MARK_READ, ids=[notice_id])
        return RedirectResponse(f"/inbox#n-{notice_id}", status_code=303)

    async def inbox_stream(self, request: Request) -> Response:
        user = current_user(request)
        assert user is not None
        return StreamingResponse(
            self.relay(user),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def relay(self, user: User) -> AsyncIterator[str]:
        """The gateway's notificationReceived subscription as Server-Sent Events."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for data in self.gateway.subscribe(queries.LIVE_INBOX, user.token):
                    await queue.put(data.get("notificationReceived"))
            except Exception as exc:  # the browser reconnects (EventSource retry)
                log.info("live inbox relay ended", extra={"error": type(exc).__name__})
            finally:
                await queue.put(None)

        task = asyncio.create_task(pump())
        try:
            yield "retry: 3000\n: connected\n\n"
            while True:
                try:
                    async with asyncio.timeout(15):  # not wait_for: see kit.service.stop
                        event = await queue.get()
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if event is None:
                    return
                event["href"] = views.link_target(event.get("link"))
                yield f"event: notification\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
        finally:
            await cancel_and_wait([task])

    async def preferences(self, request: Request) -> Response:
        data = await self.ask(request, queries.PREFERENCES)
        return self.render(
            request, "settings.html", prefs=data["myPreferences"], errors={}, saved=False
        )

    async def save_preferences(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request, form.get("csrf")):
            return self.error_page(request, 400, "csrf")
        entered = {
            "emailEnabled": form.get("emailEnabled") == "on",
            "cadence": str(form.get("cadence", "IMMEDIATE")),
            "respectQuietHours": form.get("respectQuietHours") == "on",
            "language": str(form.get("language", "ja")),
            "mutedKinds": [str(k) for k in form.getlist("mutedKinds")],
        }
        data = await self.ask(request, queries.UPDATE_PREFERENCES, input=entered)
        payload = data["updateMyPreferences"]
        errors = self.field_errors(request, payload["errors"])
        if errors:
            prefs = {**entered, "inDirectory": True}
            return self.render(
                request, "settings.html", status_code=422, prefs=prefs, errors=errors, saved=False
            )
        if entered["language"] in LANGUAGES:
            request.session["lang"] = entered["language"]
        return self.render(
            request, "settings.html", prefs=payload["preferences"], errors={}, saved=True
        )

    def field_errors(self, request: Request, raw: list[dict[str, Any]]) -> dict[str, str]:
        lang = self.lang(request)
        errors: dict[str, str] = {}
        for error in (UserError.of(e) for e in raw):
            errors.setdefault(error.field_name() or "_form", error.text(lang))
        return errors

    async def reporting(self, request: Request) -> Response:
        return await self.reporting_page(request, entered={}, errors={}, result=None)

    async def reporting_page(
        self,
        request: Request,
        *,
        entered: dict[str, str],
        errors: dict[str, str],
        result: dict[str, Any] | None,
        status_code: int = 200,
    ) -> Response:
        user = current_user(request)
        assert user is not None
        departments = list(user.departments)
        choices: list[dict[str, Any]] = []
        if not departments and user.is_admin:  # the 事務局 reports for any department
            choices = (await self.ask(request, queries.DEPARTMENTS))["departments"]
            chosen = request.query_params.get("department") or entered.get("department")
            departments = [d["code"] for d in choices if d["code"] == chosen]
        rows = []
        for department in departments:
            data = await self.ask(request, queries.MY_INDICATORS, department=department)
            for edge in data["indicators"]["edges"]:
                node = edge["node"]
                period, due = views.next_due(node)
                rows.append({**node, "department": department, "next_period": period, "due": due})
        rows.sort(key=lambda r: (r["due"] is None, r["due"] or 0, r["key"]))
        if not entered and request.query_params.get("indicator"):
            entered = {"indicatorKey": request.query_params["indicator"]}
        return self.render(
            request,
            "report.html",
            status_code=status_code,
            rows=rows,
            departments=departments,
            choices=choices,
            entered=entered,
            errors=errors,
            result=result,
            idempotency_key=entered.get("idempotencyKey") or str(uuid.uuid4()),
        )

    async def submit_report(self, request: Request) -> Response:
        form = await request.form()
        entered = {
            k: str(form.get(k, "")).strip()
            for k in (
                "indicatorKey",
                "period",
                "value",
                "textValue",
                "unit",
                "comment",
                "reason",
                "correction",
                "idempotencyKey",
                "department",
            )
        }
        if not csrf_ok(request, form.get("csrf")):
            t = translator(self.lang(request))
            return await self.reporting_page(
                request, entered=entered, errors={"_form": t("csrf")}, result=None, status_code=400
            )
        t = translator(self.lang(request))
        required = {"indicatorKey": entered["indicatorKey"], "period": entered["period"]}
        correction = entered["correction"] == "on"
        if correction:
            required["reason"] = entered["reason"]
        errors = {k: t("required") for k, v in required.items() if not v}
        if not entered["value"] and not entered["textValue"]:
            errors["value"] = t("required")
        if errors:
            return await self.reporting_page(
                request, entered=entered, errors=errors, result=None, status_code=422
            )
        common: dict[str, Any] = {
            "indicatorKey": entered["indicatorKey"],
            "period": entered["period"],
            "value": entered["value"] or None,
            "textValue": entered["textValue"] or None,
            "unit": entered["unit"] or None,
            "idempotencyKey": entered["idempotencyKey"] or None,
        }
        try:
            if correction:
                data = await self.ask(
                    request,
                    queries.CORRECT_ACTUAL,
                    input={**common, "reason": entered["reason"]},
                )
                payload = data["correctActual"]
            else:
                data = await self.ask(
                    request,
                    queries.REPORT_ACTUAL,
                    input={**common, "comment": entered["comment"] or None},
                )
                payload = data["reportActual"]
        except GatewayError as exc:
            # e.g. a value the Decimal scalar refuses: shown next to the value, input kept
            field = "value" if "value" in str(exc).lower() else "_form"
            return await self.reporting_page(
                request, entered=entered, errors={field: str(exc)}, result=None, status_code=422
            )
        errors = self.field_errors(request, payload["errors"])
        if errors:
            return await self.reporting_page(
                request, entered=entered, errors=errors, result=None, status_code=422
            )
        kept = {"department": entered["department"]} if entered["department"] else {}
        return await self.reporting_page(
            request, entered=kept, errors={}, result=payload, status_code=200
        )

    async def plan_documents(self, request: Request) -> tuple[dict[str, Any], list[Any]]:
        plan_id = request.path_params["plan_id"]
        plan = await self.plan_tree(self.token_of(request), plan_id)
        if plan is None:
            raise HTTPException(404)
        try:
            data = await self.ask(request, queries.PLAN_INDICATORS, planId=plan_id)
            indicators = [e["node"] for e in data["indicators"]["edges"]]
        except GatewayError:
            indicators = []
        return plan, indicators

    async def report_states(
        self, request: Request, plan_id: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every measure of the plan with its progress reports' states, and the deadlines."""
        measures: list[dict[str, Any]] = []
        deadlines: list[dict[str, Any]] = []
        after = None
        while True:
            data = await self.ask(request, queries.REPORT_STATES, planId=plan_id, after=after)
            deadlines = data["reportDeadlines"]
            page = data["measures"]
            measures += [e["node"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return measures, deadlines
            after = page["pageInfo"]["endCursor"]

    async def summary(self, request: Request) -> Response:
        plans = list((await self.ask(request, queries.PLANS))["plans"])
        chosen = request.query_params.get("plan") or next(
            (p["id"] for p in plans if p["state"] == "PUBLISHED"), plans[0]["id"] if plans else ""
        )
        if not chosen:
            return self.error_page(request, 404, "not_found")
        request.path_params["plan_id"] = chosen
        plan, indicators = await self.plan_documents(request)
        years, labels, counts = views.grade_counts(plan)
        failing = [
            (node, grade)
            for node in views.walk(plan["nodes"])
            if node["kind"] == "MEASURE"
            for grade in (node.get("measure") or {}).get("grades") or []
            if grade.get("isFailing")
        ]
        report_measures, deadlines = await self.report_states(request, plan["id"])
        report_periods, report_counts = views.report_state_counts(report_measures)
        return self.render(
            request,
            "summary.html",
            report_periods=report_periods,
            report_counts=report_counts,
            report_states=views.REPORT_STATES,
            overdue_reports=views.overdue_reports(
                report_measures, deadlines, plan["fiscalYearFrom"], plan["fiscalYearTo"]
            ),
            plans=plans,
            plan=plan,
            years=years,
            grade_labels=labels,
            counts=counts,
            failing=failing,
            off_track=views.off_track(indicators),
            overdue=views.overdue(indicators),
        )

    async def xlsx(self, request: Request) -> Response:
        plan_id = request.path_params["plan_id"]
        plan = await self.plan_tree(self.token_of(request), plan_id)
        if plan is None:
            raise HTTPException(404)
        measures: list[dict[str, Any]] = []
        after = None
        while True:
            data = await self.ask(request, queries.PROGRESS, planId=plan_id, after=after)
            page = data["measures"]
            measures += [e["node"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        from suishin.web.documents import progress_xlsx  # openpyxl: loaded on first download

        content = await asyncio.to_thread(progress_xlsx, plan, measures)
        return Response(
            content,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"content-disposition": _attachment(f"{plan['key']}-progress.xlsx")},
        )

    async def pdf(self, request: Request) -> Response:
        plan, indicators = await self.plan_documents(request)
        report_measures, deadlines = await self.report_states(request, plan["id"])
        late = views.overdue_reports(
            report_measures, deadlines, plan["fiscalYearFrom"], plan["fiscalYearTo"]
        )
        from suishin.web.documents import pdf_report  # fpdf2 and fontTools: on first download

        content = await asyncio.to_thread(pdf_report, plan, indicators, late)
        return Response(
            content,
            media_type="application/pdf",
            headers={"content-disposition": _attachment(f"{plan['key']}-honbu.pdf")},
        )

    async def public(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        try:
            plans = (await self.gateway.query(queries.PUBLIC_PLANS, None, tenant=tenant))["plans"]
        except GatewayError:
            plans = []
        shown = []
        for listed in plans:
            if listed["state"] != "PUBLISHED":
                continue
            try:
                plan = await self.plan_tree(None, listed["id"])
            except GatewayError:
                plan = None
            if plan is None or plan["state"] != "PUBLISHED":
                continue
            shown.append(views.published_only(plan))
            plan["years"], plan["grade_labels"], plan["counts"] = views.grade_counts(plan)
        try:
            reports = (await self.gateway.query(queries.PUBLISHED_REPORTS, None, tenant=tenant))[
                "publishedProgressReports"
            ]
        except GatewayError:
            reports = []
        for plan in shown:  # each published plan with its published progress reports
            plan["reports"] = [
                r
                for r in reports
                if ((r.get("measure") or {}).get("plan") or {}).get("key") == plan["key"]
            ]
        return self.render(
            request,
            "public.html",
            tenant=tenant,
            plans=shown,
            grade_of=views.grade_of,
            status_code=200 if shown else 404,
        )

    async def graphiql(self, request: Request) -> Response:
        """A page that hands the session's token to the gateway's GraphiQL by a form POST
        (never in a URL)."""
        return self.render(request, "graphiql.html")

    async def graphiql_handoff(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request, form.get("csrf")):
            return self.error_page(request, 400, "csrf")
        user = current_user(request)
        assert user is not None
        return self.render(request, "graphiql_post.html", token=user.token)


def _num(value: Any) -> str:
    """A Decimal as the gateway sends it ("1.6E+5") the way people write it (160000)."""
    if value is None or value == "":
        return "-"
    try:
        return fmt(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)


def _origin(url: str) -> str:
    parts = httpx.URL(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.host}{port}"


def _attachment(filename: str) -> str:
    return f"attachment; filename=\"{filename}\"; filename*=UTF-8''{filename}"


def signed_in(portal: Portal, handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        if current_user(request) is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?{urlencode({'next': target})}", status_code=303)
        try:
            return await handler(request)
        except GatewayError as exc:
            log.warning(
                "gateway refused a page's request",
                extra={"path": request.url.path, "code": exc.code, "error": str(exc)[:300]},
            )
            if exc.code == "UNAUTHENTICATED" or exc.status == 401:
                request.session.pop("user", None)
                return RedirectResponse("/signin", status_code=303)
            if exc.code == "FORBIDDEN":
                return portal.error_page(request, 403, "forbidden")
            if exc.status >= 500 or exc.status == 0:
                return portal.error_page(request, 502, "gateway_down")
            return portal.error_page(request, 404, "not_found")

    return guarded


class SecurityHeaders:
    """No framing, no sniffing, scripts and styles from this origin only."""

    def __init__(self, app: Any, form_targets: str = "") -> None:
        self.app = app
        self.policy = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"connect-src 'self'; form-action 'self' {form_targets}; frame-ancestors 'none'"
        ).encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"content-security-policy", self.policy),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def build(
    settings: WebSettings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    oidc_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The portal app. ``transport`` replaces the network to the gateway, ``oidc_transport``
    the one to the OpenID provider (tests)."""
    settings = settings or WebSettings()
    settings.check_production()
    gateway = Gateway(settings.graphql_url, settings.graphql_ws_url, transport=transport)
    portal = Portal(settings, gateway, oidc_transport)
    progress = ProgressPages(portal)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "web"})

    async def readyz(_: Request) -> Response:
        try:
            await gateway.query("{ __typename }")
            return JSONResponse({"status": "ready"})
        except GatewayError as exc:
            return JSONResponse({"status": "degraded", "error": str(exc)}, status_code=503)

    async def root(request: Request) -> Response:
        if current_user(request) is None:
            return RedirectResponse("/signin", status_code=303)
        return await signed_in(portal, portal.home)(request)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.aclose()

    def page(path: str, handler: Handler, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route(path, signed_in(portal, handler), methods=list(methods))

    app = Starlette(
        routes=[
            Route("/", root),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/signin", portal.signin_page),
            Route("/signin/dev", portal.signin_dev, methods=["POST"]),
            Route("/signin/oidc", portal.signin_oidc),
            Route("/auth/callback", portal.oidc_callback, name="oidc_callback"),
            Route("/signout", portal.signout, methods=["POST"]),
            Route("/language", portal.set_language),
            Route("/public/{tenant}", portal.public),
            page("/plans/{plan_id}", portal.plan),
            page("/plans/{plan_id}/progress.xlsx", portal.xlsx),
            page("/plans/{plan_id}/honbu.pdf", portal.pdf),
            page("/measures/{measure_id}", portal.measure),
            page("/indicators/{indicator_id}", portal.indicator),
            page("/inbox", portal.inbox),
            page("/inbox/stream", portal.inbox_stream),
            page("/inbox/{notification_id}/acknowledge", portal.acknowledge, ("POST",)),
            page("/settings", portal.preferences),
            page("/settings", portal.save_preferences, ("POST",)),
            page("/report", portal.reporting),
            page("/report", portal.submit_report, ("POST",)),
            page("/progress", progress.mine),
            page("/progress/queue", progress.queue),
            page("/progress/deadlines", progress.deadlines),
            page("/progress/deadlines", progress.set_deadline, ("POST",)),
            page("/progress/{measure_id}/{period}", progress.page),
            page("/progress/{measure_id}/{period}", progress.act, ("POST",)),
            page("/summary", portal.summary),
            page("/graphiql", portal.graphiql),
            page("/graphiql", portal.graphiql_handoff, ("POST",)),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[
            Middleware(GZipMiddleware, minimum_size=1024),  # not for text/event-stream
            Middleware(SecurityHeaders, form_targets=_origin(settings.graphql_url)),
            Middleware(
                SessionMiddleware,
                secret_key=settings.session_secret,
                session_cookie="suishin_session",
                max_age=settings.session_max_age,
                same_site="lax",
                https_only=settings.cookies_secure,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.portal = portal
    return app
