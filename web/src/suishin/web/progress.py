"""The progress-report (進捗報告) pages: what a 所管課 reports and by when, the report form with
its workflow steps, and the 事務局 / 本部 review queue. Everything goes through the gateway;
the API decides who may do what and its typed errors are shown next to the fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from suishin.web import queries, views
from suishin.web.auth import csrf_ok, current_user
from suishin.web.gateway import GatewayError, UserError
from suishin.web.i18n import translator

if TYPE_CHECKING:
    from suishin.web.app import Portal

TEXT_FIELDS = ("results", "issues", "direction", "selfAssessedGrade", "evidence")
STEP_FIELDS = ("comment", "grade", "reason")
# The mutation of each workflow step and the payload's name in the answer.
STEPS = {
    "submit": (queries.SUBMIT_REPORT, "submitProgressReport"),
    "return": (queries.RETURN_REPORT, "returnProgressReport"),
    "accept": (queries.ACCEPT_REPORT, "acceptProgressReport"),
    "approve": (queries.APPROVE_REPORT, "approveProgressReport"),
    "publish": (queries.PUBLISH_REPORT, "publishProgressReport"),
}


DONE = ("saved", "correct", *STEPS)


class ProgressPages:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    # -- what my department reports -------------------------------------------------------

    async def mine(self, request: Request) -> Response:
        portal = self.portal
        user = current_user(request)
        assert user is not None
        departments = list(user.departments)
        choices: list[dict[str, Any]] = []
        if not departments and user.is_admin:  # the 事務局 looks at any department
            choices = (await portal.ask(request, queries.DEPARTMENTS))["departments"]
            chosen = request.query_params.get("department")
            departments = [d["code"] for d in choices if d["code"] == chosen]
        deadlines = (await portal.ask(request, queries.REPORT_DEADLINES))["reportDeadlines"]
        plans = [
            p
            for p in (await portal.ask(request, queries.PLANS))["plans"]
            if p["state"] == "PUBLISHED"
        ]
        rows: list[dict[str, Any]] = []
        for plan in plans:
            for department in departments:
                data = await portal.ask(
                    request, queries.MY_MEASURES, planId=plan["id"], department=department
                )
                for edge in data["measures"]["edges"]:
                    measure = edge["node"]
                    latest = views.latest_reports(measure["progressReports"])
                    periods = views.report_periods(
                        plan["fiscalYearFrom"], plan["fiscalYearTo"], deadlines, list(latest)
                    )
                    for period in periods:
                        report = latest.get(period)
                        state = report["state"] if report else None
                        rows.append(
                            {
                                "plan": plan,
                                "measure": measure,
                                "period": period,
                                "report": report,
                                "due": views.due_of(period, deadlines),
                                "overdue": views.is_overdue(period, state, deadlines),
                                "owed": state in views.OWED_STATES,
                            }
                        )
        rows.sort(key=lambda r: (not r["owed"], r["due"] is None, r["due"] or "", r["period"]))
        return portal.render(
            request,
            "progress_mine.html",
            rows=rows,
            departments=departments,
            choices=choices,
            deadlines=deadlines,
        )

    # -- the report of a measure and period ------------------------------------------------

    async def page(self, request: Request) -> Response:
        done = request.query_params.get("done")
        return await self.render_report(
            request, entered=None, errors={}, done=done if done in DONE else None
        )

    async def render_report(
        self,
        request: Request,
        *,
        entered: dict[str, Any] | None,
        errors: dict[str, str],
        done: str | None,
        status_code: int = 200,
    ) -> Response:
        portal = self.portal
        measure_id = request.path_params["measure_id"]
        period = request.path_params["period"]
        data = await portal.ask(request, queries.PROGRESS_REPORT, id=measure_id, period=period)
        measure = data["measure"]
        if measure is None:
            return portal.error_page(request, 404, "not_found")
        report = measure["currentReport"]
        fiscal_year = views._period_year(period) or 0
        if entered is not None and "expectedRevision" in errors and report is not None:
            # Stale: someone saved in between. Everything typed is kept; saving again now
            # writes it over the newer version (the error above says so).
            entered["expectedRevision"] = str(report["revision"])
        if entered is None:
            entered = {
                "results": (report or {}).get("results") or "",
                "issues": (report or {}).get("issues") or "",
                "direction": (report or {}).get("direction") or "",
                "selfAssessedGrade": (report or {}).get("selfAssessedGrade") or "",
                "evidence": views.evidence_text((report or {}).get("evidence") or []),
                "expectedRevision": str(report["revision"]) if report else "",
                "adherence": views.year_tracks(measure["schedule"], fiscal_year, report),
            }
        returned = next(
            (
                t
                for t in reversed((report or {}).get("transitions") or [])
                if t["toState"] == "RETURNED"
            ),
            None,
        )
        user = current_user(request)
        assert user is not None
        state = report["state"] if report else None
        # who answers for the measure: its own 所管課, else an ancestor's, else the plan's default
        answering = (measure.get("reportingOwners") or {}).get("departmentCodes") or [
            o["departmentCode"] for o in measure["owners"]
        ]
        owner = set(answering) & set(user.departments)
        can = {
            "edit": state in views.OWED_STATES and (bool(owner) or user.is_admin),
            "review": state == "SUBMITTED" and user.is_admin,
            "approve": state == "ACCEPTED" and "executive" in user.roles,
            "publish": state == "APPROVED" and (user.is_admin or "executive" in user.roles),
            # a published report is corrected only by a new version (所管課 or 事務局)
            "correct": state == "PUBLISHED" and (bool(owner) or user.is_admin),
        }
        return portal.render(
            request,
            "progress_report.html",
            status_code=status_code,
            measure=measure,
            period=period,
            report=report,
            versions=measure["progressReports"],
            returned=returned if state == "RETURNED" else None,
            entered=entered,
            errors=errors,
            done=done,
            can=can,
            grades=((measure["plan"] or {}).get("gradeScale") or {}).get("grades") or [],
            adherence_choices=views.ADHERENCE,
            due=views.due_of(period, data["reportDeadlines"]),
            overdue=views.is_overdue(period, state, data["reportDeadlines"]),
        )

    async def act(self, request: Request) -> Response:
        """Save the draft, submit it, or take the 事務局's / 本部's step."""
        portal = self.portal
        form = await request.form()
        entered: dict[str, Any] = {k: str(form.get(k, "")) for k in TEXT_FIELDS + STEP_FIELDS}
        entered["expectedRevision"] = str(form.get("expectedRevision", "")).strip()
        entered["adherence"] = [
            {
                "track": str(form.get(f"adherence-{i}-track", "")),
                "planned": str(form.get(f"adherence-{i}-planned", "")) or None,
                "adherence": str(form.get(f"adherence-{i}-value", "")),
                "note": str(form.get(f"adherence-{i}-note", "")),
            }
            for i in range(_count(form.get("adherenceCount")))
        ]
        action = str(form.get("action", ""))
        t = translator(portal.lang(request))
        if not csrf_ok(request, form.get("csrf")):
            return await self.render_report(
                request, entered=entered, errors={"_form": t("csrf")}, done=None, status_code=400
            )
        measure_id = request.path_params["measure_id"]
        period = request.path_params["period"]
        revision = _int(entered["expectedRevision"])
        try:
            if action in ("save", "submit") and form.get("editable") == "1":
                payload = (
                    await portal.ask(
                        request,
                        queries.SAVE_REPORT,
                        input=self.save_input(measure_id, period, entered, revision),
                    )
                )["saveProgressReport"]
                errors = self.errors(request, payload["errors"])
                if errors:
                    return await self.refused(request, entered, errors)
                revision = payload["report"]["revision"]
                entered["expectedRevision"] = str(revision)
                if action == "save":
                    return _back(measure_id, period, "saved")
            if action == "correct":
                payload = (
                    await portal.ask(
                        request,
                        queries.CORRECT_REPORT,
                        measureId=measure_id,
                        period=period,
                        reason=entered["reason"].strip(),
                    )
                )["correctPublishedReport"]
                errors = self.errors(request, payload["errors"])
                if errors:
                    return await self.refused(request, entered, errors)
                return _back(measure_id, period, "correct")
            if action not in STEPS:
                return await self.refused(request, entered, {"_form": t("not_found")})
            document, name = STEPS[action]
            variables: dict[str, Any] = {"measureId": measure_id, "period": period}
            variables["revision"] = revision
            if action in ("return", "accept"):
                variables["comment"] = entered["comment"].strip() or None
            if action == "approve":
                variables["grade"] = entered["grade"] or None
                variables["reason"] = entered["reason"].strip() or None
            payload = (await portal.ask(request, document, **variables))[name]
        except GatewayError as exc:
            return await self.refused(request, entered, {"_form": str(exc)})
        errors = self.errors(request, payload["errors"])
        if errors:
            return await self.refused(request, entered, errors)
        return _back(measure_id, period, action)

    async def refused(
        self, request: Request, entered: dict[str, Any], errors: dict[str, str]
    ) -> Response:
        return await self.render_report(
            request, entered=entered, errors=errors, done=None, status_code=422
        )

    def errors(self, request: Request, raw: list[dict[str, Any]]) -> dict[str, str]:
        lang = self.portal.lang(request)
        errors: dict[str, str] = {}
        for error in (UserError.of(e) for e in raw):
            errors.setdefault(views.report_field(error.field), error.text(lang))
        return errors

    @staticmethod
    def save_input(
        measure_id: str, period: str, entered: dict[str, Any], revision: int | None
    ) -> dict[str, Any]:
        return {
            "measureId": measure_id,
            "period": period,
            "expectedRevision": revision,
            "results": entered["results"],
            "issues": entered["issues"],
            "direction": entered["direction"],
            "selfAssessedGrade": entered["selfAssessedGrade"] or None,
            "adherence": [
                {"track": a["track"], "adherence": a["adherence"], "note": a["note"] or None}
                for a in entered["adherence"]
                if a["adherence"]
            ],
            "evidence": views.parse_evidence(entered["evidence"]),
        }

    # -- the 事務局's report deadlines ---------------------------------------------------------

    async def deadlines(self, request: Request) -> Response:
        user = current_user(request)
        assert user is not None
        if not user.is_admin:
            return self.portal.error_page(request, 403, "forbidden")
        done = request.query_params.get("done") == "1"
        return await self.render_deadlines(request, entered={}, errors={}, saved=done)

    async def render_deadlines(
        self,
        request: Request,
        *,
        entered: dict[str, str],
        errors: dict[str, str],
        saved: bool,
        status_code: int = 200,
    ) -> Response:
        portal = self.portal
        rows = (await portal.ask(request, queries.DEADLINES_PAGE))["reportDeadlines"]
        rows = sorted(rows, key=lambda d: (d["period"], d["dueOn"]))
        return portal.render(
            request,
            "progress_deadlines.html",
            status_code=status_code,
            deadlines=rows,
            entered=entered,
            errors=errors,
            saved=saved,
        )

    async def set_deadline(self, request: Request) -> Response:
        """Set (or move) a period's due date; the API's typed error goes next to its field."""
        portal = self.portal
        user = current_user(request)
        assert user is not None
        if not user.is_admin:
            return portal.error_page(request, 403, "forbidden")
        form = await request.form()
        entered = {k: str(form.get(k, "")).strip() for k in ("period", "dueOn", "reminderDays")}
        t = translator(portal.lang(request))
        if not csrf_ok(request, form.get("csrf")):
            return await self.render_deadlines(
                request, entered=entered, errors={"_form": t("csrf")}, saved=False, status_code=400
            )
        # What the API types as Date / [Int!] is checked here, so that a typo comes back next
        # to its field like the API's own errors instead of as a GraphQL validation failure.
        errors: dict[str, str] = {}
        if not entered["period"]:
            errors["period"] = t("period_required")
        due = views.iso_date(entered["dueOn"])
        if due is None:
            errors["dueOn"] = t("bad_date")
        days: list[int] | None = None
        try:
            days = views.parse_days(entered["reminderDays"])
        except ValueError:
            errors["reminderDays"] = t("bad_reminders")
        if errors:
            return await self.render_deadlines(
                request, entered=entered, errors=errors, saved=False, status_code=422
            )
        try:
            payload = (
                await portal.ask(
                    request,
                    queries.SET_DEADLINE,
                    period=entered["period"],
                    dueOn=due,
                    reminderDays=days,
                )
            )["setReportDeadline"]
        except GatewayError as exc:
            errors = {"_form": str(exc)}
        else:
            errors = portal.field_errors(request, payload["errors"])
        if errors:
            return await self.render_deadlines(
                request, entered=entered, errors=errors, saved=False, status_code=422
            )
        return RedirectResponse("/progress/deadlines?done=1", status_code=303)

    # -- the 事務局 / 本部 queue ---------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        """The API's queue (submitted for the 事務局, accepted for the 本部), and the approved
        reports waiting to be published (in no queue of the API: read from the plans)."""
        portal = self.portal
        reports = (await portal.ask(request, queries.REPORT_QUEUE))["progressReportQueue"]
        plans = (await portal.ask(request, queries.PLANS))["plans"]
        to_publish = []
        for plan in plans:
            if plan["state"] != "PUBLISHED":
                continue
            measures, _ = await portal.report_states(request, plan["id"])
            for measure in measures:
                for period, report in views.latest_reports(measure["progressReports"]).items():
                    if report["state"] == "APPROVED":
                        to_publish.append({"measure": measure, "period": period, "plan": plan})
        return portal.render(request, "progress_queue.html", reports=reports, to_publish=to_publish)


def _count(value: Any) -> int:
    number = _int(str(value or ""))
    return max(0, min(number or 0, 50))


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _back(measure_id: str, period: str, done: str) -> Response:
    return RedirectResponse(f"/progress/{measure_id}/{period}?done={done}", status_code=303)
