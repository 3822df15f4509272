"""Settings of the notifications service (environment, prefix ``SUISHIN_``)."""

from pathlib import Path

from pydantic import Field

from suishin.kit.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    port: int = Field(default=4003, validation_alias="SUISHIN_NOTIFICATIONS_PORT")
    # E-mail (SMTP). The embedded default runs the local sink on 127.0.0.1:2525.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_timeout: float = Field(default=10.0, description="Seconds before an SMTP attempt fails.")
    smtp_start_tls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str = "Suishin 推進 <noreply@suishin.example.jp>"

    # Webhooks.
    webhook_timeout: float = 5.0

    # Delivery retries: attempt n waits base * 2**(n-1) seconds, capped.
    delivery_max_attempts: int = 5
    delivery_backoff_base: float = 30.0
    delivery_backoff_max: float = 3600.0
    dispatcher_poll_interval: float = Field(
        default=1.0, description="Seconds between the dispatcher's passes when it cannot LISTEN."
    )
    dispatcher_listen_poll_interval: float = Field(
        default=30.0,
        description="Longest sleep of the dispatcher while LISTEN works (it wakes on new "
        "deliveries and when the earliest one is due).",
    )
    dispatcher_batch_size: int = 100

    # Shaping (all times are JST wall-clock).
    grouping_window_seconds: float = Field(
        default=60.0, description="Immediate e-mails to one person within this window go as one."
    )
    quiet_hours_start: str = "22:00"
    quiet_hours_end: str = "07:30"
    daily_digest_time: str = "08:30"
    weekly_digest_weekday: int = Field(default=0, ge=0, le=6, description="0 = Monday.")
    weekly_digest_time: str = "08:30"
    escalation_business_days: int = 3
    scheduler_interval: float = Field(default=30.0, description="Digest/escalation check period.")

    # Links in messages point at the ward portal (SUISHIN_PORTAL_URL).
    portal_url: str = "http://127.0.0.1:4005"
    templates_dir: Path | None = Field(
        default=None, description="Optional folder whose templates override the built-in ones."
    )
