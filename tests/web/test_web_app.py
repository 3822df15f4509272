"""The portal's own rules, without a platform: sessions and CSRF, no token in pages or URLs,
sign-in (demo users in development only; OpenID Connect with PKCE against a fake issuer),
typed errors next to fields with the input kept, and the pure view helpers."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from suishin.kit.settings import InsecureConfiguration
from suishin.web import views
from suishin.web.app import build
from suishin.web.auth import safe_next
from suishin.web.settings import WebSettings

from .conftest import csrf_of

ME = {
    "subject": "cio@itabashi",
    "tenant": "itabashi",
    "roles": ["EXECUTIVE", "VIEWER"],
    "departments": [],
    "posts": ["CIO"],
    "name": "板橋 太郎",
}


class FakeGateway(httpx.AsyncBaseTransport):
    """Answers the portal's GraphQL requests and remembers them (with their tokens)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.preferences_errors: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append({"body": body, "authorization": request.headers.get("authorization")})
        query = body["query"]
        if "query Me" in query:
            return httpx.Response(200, json={"data": {"me": ME}})
        if "mutation UpdatePrefs" in query:
            return httpx.Response(
                200,
                json={
                    "data": {
                        "updateMyPreferences": {
                            "preferences": None,
                            "errors": self.preferences_errors,
                        }
                    }
                },
            )
        if "query Prefs" in query:
            prefs = {
                "emailEnabled": True,
                "cadence": "IMMEDIATE",
                "mutedKinds": [],
                "respectQuietHours": True,
                "language": "ja",
                "inDirectory": True,
            }
            return httpx.Response(200, json={"data": {"myPreferences": prefs}})
        if "query Plans" in query:
            return httpx.Response(200, json={"data": {"plans": []}})
        return httpx.Response(200, json={"data": {"__typename": "Query"}})


def client(settings: WebSettings, gateway: FakeGateway, **kw: Any) -> httpx.AsyncClient:
    app = build(settings, transport=gateway, **kw)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal")


async def sign_in(c: httpx.AsyncClient, subject: str = "cio@itabashi") -> None:
    page = await c.get("/signin")
    response = await c.post(
        "/signin/dev", data={"csrf": csrf_of(page.text), "subject": subject, "next": "/"}
    )
    assert response.status_code == 303, response.text


async def test_dev_sign_in_keeps_the_token_in_a_signed_httponly_lax_cookie_only() -> None:
    gateway = FakeGateway()
    async with client(WebSettings(session_secret="s" * 32), gateway) as c:
        page = await c.get("/signin")
        assert "cio@itabashi" in page.text and "reporter@itabashi" in page.text
        response = await c.post(
            "/signin/dev", data={"csrf": csrf_of(page.text), "subject": "cio@itabashi"}
        )
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        token = gateway.calls[-1]["authorization"].removeprefix("Bearer ")
        assert token.count(".") == 2
        home = await c.get("/")
        assert home.status_code == 200 and "板橋 太郎" in home.text
        assert token not in home.text and token not in str(home.url)
        assert home.headers["cache-control"] == "no-store"
        assert gateway.calls[-1]["authorization"] == f"Bearer {token}"  # used server-side
        for name in ("content-security-policy", "x-frame-options", "x-content-type-options"):
            assert name in home.headers


async def test_every_form_needs_the_session_csrf_token() -> None:
    gateway = FakeGateway()
    async with client(WebSettings(session_secret="s" * 32), gateway) as c:
        await c.get("/signin")
        refused = await c.post("/signin/dev", data={"csrf": "forged", "subject": "cio@itabashi"})
        assert refused.status_code == 400
        await sign_in(c)
        before = len(gateway.calls)
        for path, data in (
            ("/settings", {"language": "en"}),
            ("/inbox/n1/acknowledge", {"comment": "x"}),
            ("/settings", {"language": "en", "csrf": "forged"}),
        ):
            response = await c.post(path, data=data)
            assert response.status_code == 400, path
        report = await c.post("/report", data={"indicatorKey": "k", "period": "FY2024"})
        assert report.status_code == 400
        mutations = [call for call in gateway.calls[before:] if "mutation" in call["body"]["query"]]
        assert mutations == []  # nothing reached the API


async def test_a_typed_error_is_shown_next_to_its_field_in_the_users_language() -> None:
    gateway = FakeGateway()
    gateway.preferences_errors = [
        {
            "code": "invalid_language",
            "message": "言語は ja か en です",
            "messageEn": "language must be ja or en",
            "field": "input.language",
        }
    ]
    async with client(WebSettings(session_secret="s" * 32), gateway) as c:
        await sign_in(c)
        page = await c.get("/settings")
        form = {"csrf": csrf_of(page.text), "language": "fr", "cadence": "DAILY"}
        response = await c.post("/settings", data=form)
        assert response.status_code == 422
        assert re.search(r'id="err-language">言語は ja か en です<', response.text)
        assert '<option value="fr" selected>' in response.text  # kept
        assert 'value="DAILY" checked' in response.text
        await c.get("/language", params={"lang": "en", "next": "/settings"})
        english = await c.post("/settings", data=form)
        assert "language must be ja or en" in english.text


async def test_demo_users_never_sign_in_in_production() -> None:
    production = {
        "environment": "production",
        "session_secret": "s" * 32,
        "oidc_issuer": "https://id.example.jp",
        "oidc_client_id": "suishin-portal",
    }
    gateway = FakeGateway()
    async with client(WebSettings(**production), gateway) as c:
        page = await c.get("/signin")
        assert "cio@itabashi" not in page.text and "/signin/oidc" in page.text
        response = await c.post("/signin/dev", data={"csrf": "x", "subject": "cio@itabashi"})
        assert response.status_code == 404
    for refused in (
        {**production, "dev_login": True},
        {k: v for k, v in production.items() if k != "session_secret"},
        {k: v for k, v in production.items() if not k.startswith("oidc")},
    ):
        with pytest.raises(InsecureConfiguration):
            build(WebSettings(**refused))


async def test_pages_need_a_sign_in_and_come_back_after_it() -> None:
    async with client(WebSettings(session_secret="s" * 32), FakeGateway()) as c:
        response = await c.get("/measures/abc")
        assert response.status_code == 303
        assert response.headers["location"] == "/signin?next=%2Fmeasures%2Fabc"


class FakeIssuer(httpx.AsyncBaseTransport):
    """An OpenID provider's discovery document and token endpoint."""

    issuer = "https://id.example.jp"

    def __init__(self) -> None:
        self.token_requests: list[dict[str, list[str]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "code_challenge_methods_supported": ["S256"],
                },
            )
        if request.url.path == "/token":
            self.token_requests.append(parse_qs(request.content.decode()))
            return httpx.Response(
                200,
                json={"access_token": "issuer-access-token", "token_type": "Bearer"},
            )
        return httpx.Response(404)


async def test_oidc_uses_the_authorization_code_flow_with_pkce_and_checks_the_state() -> None:
    issuer = FakeIssuer()
    gateway = FakeGateway()
    settings = WebSettings(
        session_secret="s" * 32,
        oidc_issuer=issuer.issuer,
        oidc_client_id="suishin-portal",
        oidc_client_secret="client-secret",
        public_url="http://portal",
    )
    async with client(settings, gateway, oidc_transport=issuer) as c:
        assert "/signin/oidc" in (await c.get("/signin")).text
        start = await c.get("/signin/oidc", params={"next": "/inbox"})
        assert start.status_code == 302
        location = urlsplit(start.headers["location"])
        assert (
            f"{location.scheme}://{location.netloc}{location.path}" == f"{issuer.issuer}/authorize"
        )
        params = {k: v[0] for k, v in parse_qs(location.query).items()}
        assert params["response_type"] == "code"
        assert params["client_id"] == "suishin-portal"
        assert params["redirect_uri"] == "http://portal/auth/callback"
        assert params["code_challenge_method"] == "S256"
        assert len(params["code_challenge"]) >= 43 and params["state"]
        # A callback with another state (a forged or replayed login) is refused.
        forged = await c.get("/auth/callback", params={"code": "c1", "state": "not-the-state"})
        assert forged.status_code == 400 and issuer.token_requests == []
        # The real callback: the code is exchanged with the PKCE verifier.
        done = await c.get("/auth/callback", params={"code": "c1", "state": params["state"]})
        assert done.status_code == 303 and done.headers["location"] == "/inbox"
        sent = {k: v[0] for k, v in issuer.token_requests[0].items()}
        assert sent["grant_type"] == "authorization_code" and sent["code"] == "c1"
        digest = hashlib.sha256(sent["code_verifier"].encode()).digest()
        assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == params["code_challenge"]
        assert gateway.calls[-1]["authorization"] == "Bearer issuer-access-token"
        assert "板橋 太郎" in (await c.get("/")).text


def test_only_local_paths_are_followed_after_sign_in() -> None:
    assert safe_next("/measures/1") == "/measures/1"
    for target in ("https://evil.example", "//evil.example", "/\\evil", "", None):
        assert safe_next(target) == "/"


def test_notice_links_become_portal_paths() -> None:
    assert views.link_target("Measure:abc") == "/measures/abc"
    assert views.link_target("Indicator:1") == "/indicators/1"
    assert views.link_target("Unknown:1") is None and views.link_target(None) is None


def test_the_tree_filter_keeps_matching_measures_and_their_groups() -> None:
    measure = {
        "kind": "MEASURE",
        "status": "NEW",
        "tags": ["dx"],
        "owners": [{"departmentCode": "戸籍住民課"}],
        "measure": {"grades": [{"fiscalYear": 2024, "grade": "failing", "label": "未達成"}]},
    }
    other = {**measure, "status": "CONTINUED", "owners": [{"departmentCode": "IT推進課"}]}
    tree = [{"kind": "GROUP", "children": [measure, other]}]
    assert views.filter_tree(tree, {"department": "戸籍住民課"})[0]["children"] == [measure]
    assert views.filter_tree(tree, {"status": "CONTINUED"})[0]["children"] == [other]
    assert views.filter_tree(tree, {"grade": "未達成", "year": "2025"}) == []
    assert len(views.filter_tree(tree, {"grade": "failing", "year": "2024"})[0]["children"]) == 2
    plan = {
        "fiscalYearFrom": 2024,
        "fiscalYearTo": 2025,
        "gradeScale": {"grades": [{"label": "達成"}, {"label": "未達成"}]},
        "nodes": tree,
    }
    years, labels, counts = views.grade_counts(plan)
    assert years == [2024, 2025] and labels == ["達成", "未達成"]
    assert counts[2024]["未達成"] == 2 and counts[2025]["未達成"] == 0


def test_what_a_department_reports_next_and_by_when() -> None:
    today = dt.date(2025, 6, 10)
    yearly = {"cadence": "YEARLY", "reportLagDays": 60, "periodStart": 2024, "measurements": []}
    assert views.next_due(yearly, today) == ("FY2024", dt.date(2025, 5, 30))
    reported = {**yearly, "measurements": [{"period": "FY2024"}]}
    assert views.next_due(reported, today) == ("FY2025", dt.date(2026, 5, 30))
    stale = {
        **yearly,
        "status": {"figures": {"overduePeriod": "FY2023", "dueDate": "2024-05-31"}},
    }
    assert views.next_due(stale, today) == ("FY2023", dt.date(2024, 5, 31))
    monthly = {"cadence": "MONTHLY", "reportLagDays": 10, "measurements": []}
    assert views.next_due(monthly, today) == ("2025-05", dt.date(2025, 6, 10))


def test_years_are_shown_in_the_wards_style() -> None:
    from suishin.web.views import fiscal_year_text

    assert fiscal_year_text(2021) == "令和3年度"  # 和暦 by default
    assert fiscal_year_text(2021, "fy") == "FY2021"
    assert fiscal_year_text(2021, "western") == "2021年度"
    assert fiscal_year_text("x", "fy") == "x"
