"""Portal settings (environment, prefix ``SUISHIN_``)."""

from __future__ import annotations

import secrets

from pydantic import Field

from suishin.kit.settings import InsecureConfiguration, PlatformSettings


class WebSettings(PlatformSettings):
    """Where the portal listens, which gateway it talks to, and how people sign in."""

    host: str = "127.0.0.1"
    port: int = Field(default=4005, validation_alias="SUISHIN_WEB_PORT")
    gateway_port: int = Field(default=4000, validation_alias="SUISHIN_GATEWAY_PORT")
    gateway_url: str | None = Field(
        default=None, description="The public GraphQL endpoint; default: the local gateway."
    )
    session_secret: str = Field(
        default_factory=lambda: secrets.token_urlsafe(32),
        description="Signs the session cookie; set it when running more than one process.",
    )
    session_max_age: int = Field(default=12 * 3600, description="Seconds a sign-in lasts.")
    secure_cookies: bool | None = Field(
        default=None, description="Cookies only over HTTPS; default: on in production."
    )
    dev_login: bool | None = Field(
        default=None,
        description="Sign in as a demo user (dev tokens); never allowed in production.",
    )
    datasets_dir: str = "datasets"
    # OpenID Connect (production sign-in): authorization-code flow with PKCE.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scope: str = "openid profile email"
    oidc_token_claim: str = Field(
        default="access_token",
        description="Which token of the OIDC response the gateway accepts: access_token|id_token.",
    )
    public_url: str | None = Field(
        default=None, description="The portal's own URL (OIDC redirect); default from the request."
    )

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def graphql_url(self) -> str:
        return self.gateway_url or f"http://127.0.0.1:{self.gateway_port}/graphql"

    @property
    def graphql_ws_url(self) -> str:
        url = self.graphql_url
        return "ws" + url[4:] if url.startswith("http") else url

    @property
    def dev_login_enabled(self) -> bool:
        if self.is_production:
            return False
        return self.dev_login if self.dev_login is not None else True

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def cookies_secure(self) -> bool:
        return self.secure_cookies if self.secure_cookies is not None else self.is_production

    def check_production(self) -> None:
        """The portal verifies no token itself (the gateway does), so it needs neither the JWT
        secret nor the internal key; in production it needs a real sign-in and a fixed session
        secret, and never the demo users."""
        if not self.is_production:
            return
        problems = []
        if not self.oidc_enabled:
            problems.append("set SUISHIN_OIDC_ISSUER and SUISHIN_OIDC_CLIENT_ID (sign-in)")
        if "session_secret" not in self.model_fields_set or len(self.session_secret) < 32:
            problems.append("set SUISHIN_SESSION_SECRET (32 characters or more)")
        if self.dev_login:
            problems.append("unset SUISHIN_DEV_LOGIN: demo users never sign in in production")
        if problems:
            raise InsecureConfiguration(
                "refusing to start the portal with SUISHIN_ENVIRONMENT=production: "
                + "; ".join(problems)
            )
