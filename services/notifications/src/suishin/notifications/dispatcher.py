"""Sends due e-mail and webhook deliveries, logs every attempt and retries with backoff.

Deliveries are claimed (rows another replica holds are skipped) and leased, so several replicas
share the work and a crashed sender's deliveries come back after the lease. Sending happens outside
the claiming transaction. E-mails due for one person are sent as one message (grouping). Final
outcomes (delivered, failed) are announced as ``notification.delivered``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from suishin.kit.clock import Clock
from suishin.kit.db import transaction
from suishin.notifications import commands, storage
from suishin.notifications.channels import DeliveryError
from suishin.notifications.channels.email import SmtpSender, build_message
from suishin.notifications.channels.webhook import WebhookSender, render_body
from suishin.notifications.domain.shaping import JST, Retries
from suishin.notifications.rendering import Renderer, RenderError
from suishin.notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One message to send: an e-mail (one notice, a group or a digest) or a webhook call."""

    channel: str
    tenant: str
    recipient_id: str
    address: str | None
    deliveries: list[dict[str, Any]]


class Dispatcher:
    def __init__(
        self,
        pool_source: Any,
        settings: NotificationsSettings,
        clock: Clock,
        renderer: Renderer,
        *,
        schema: str | None = None,
    ) -> None:
        self._pool_source = pool_source
        self._schema = schema
        self.notified = 0  # NOTIFYs received for this schema (tests, diagnostics)
        self._sleep_ends: float | None = None  # loop time the current sleep ends (None: awake)
        self.listener_pid: int | None = None
        self._listener: asyncpg.Connection | None = None
        self.settings = settings
        self.clock = clock
        self.renderer = renderer
        self.retries = Retries(
            settings.delivery_max_attempts,
            settings.delivery_backoff_base,
            settings.delivery_backoff_max,
        )
        self.smtp = SmtpSender(settings)
        self.webhooks = WebhookSender(settings.webhook_timeout)
        self._wakeup = asyncio.Event()
        self.lease = timedelta(
            seconds=max(settings.smtp_timeout * 3, settings.webhook_timeout) + 30
        )

    @property
    def pool(self) -> asyncpg.Pool:
        pool: asyncpg.Pool = self._pool_source()
        return pool

    def wake(self) -> None:
        self._wakeup.set()

    def deliveries_committed(self) -> None:
        """Deliveries were committed in this process. While LISTEN works the trigger's NOTIFY
        wakes every replica's dispatcher, and only for deliveries it sends (pending e-mails and
        webhook calls; an inbox delivery needs no pass), so this wakes it only when it polls."""
        if self._listener is None or self._listener.is_closed():
            self._wakeup.set()

    async def run(self) -> None:
        self._listener = await self._listen()
        try:
            while True:
                self._wakeup.clear()
                wait = self.settings.dispatcher_poll_interval
                try:
                    while await self.run_once():
                        pass
                    if self._listener is not None and self._listener.is_closed():
                        self._listener = await self._listen()  # e.g. PostgreSQL restarted
                    if self._listener is not None:
                        wait = await self.seconds_until_due()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("dispatcher pass failed; continuing")
                self._sleep_ends = asyncio.get_running_loop().time() + wait
                try:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):  # not wait_for: see kit.service.stop
                            await self._wakeup.wait()
                finally:
                    self._sleep_ends = None
        finally:
            if self._listener is not None:
                with contextlib.suppress(Exception):
                    await self._listener.close()

    async def seconds_until_due(self) -> float:
        """Seconds to sleep while LISTEN works: until the earliest delivery is due, at least
        ``dispatcher_poll_interval``, at most ``dispatcher_listen_poll_interval``."""
        fallback = max(
            self.settings.dispatcher_poll_interval, self.settings.dispatcher_listen_poll_interval
        )
        due = await storage.deliveries.next_due(self.pool)
        if due is None:
            return fallback
        wait = (due - self.clock.now()).total_seconds()
        return min(fallback, max(self.settings.dispatcher_poll_interval, wait))

    async def _listen(self) -> asyncpg.Connection | None:
        """A dedicated connection that LISTENs for new deliveries (``None``: poll only)."""
        if self._schema is None or not self.settings.database_url:
            return None
        try:
            conn: asyncpg.Connection = await asyncpg.connect(self.settings.database_url)
        except Exception as exc:
            log.warning("dispatcher cannot LISTEN; polling only", extra={"error": repr(exc)})
            return None

        def on_notify(_c: Any, _pid: int, _channel: str, payload: str) -> None:
            self.notice(payload)

        await conn.add_listener("suishin_deliveries", on_notify)
        # a lost LISTEN connection wakes the loop, which listens again (or polls)
        conn.add_termination_listener(lambda _c: self._wakeup.set())
        self.listener_pid = conn.get_server_pid()
        return conn

    def notice(self, payload: str) -> None:
        """A NOTIFY of the deliveries trigger: ``<schema> <epoch seconds>`` (when the earliest
        delivery it announces is due; migration 006). It wakes the dispatcher unless that is
        after the dispatcher's sleep ends anyway: each pass ends by looking for the earliest due
        delivery, so one held for quiet hours or a grouping window is sent on time without a
        pass now. A payload without a time, or one that arrives during a pass, always wakes."""
        schema, _, due = payload.partition(" ")
        if schema != self._schema:
            return
        self.notified += 1
        if self._sleep_ends is not None:
            try:
                seconds = float(due) - self.clock.now().timestamp()
            except ValueError:
                seconds = 0.0
            if seconds > self._sleep_ends - asyncio.get_running_loop().time():
                return
        self._wakeup.set()

    async def run_once(self) -> int:
        """Claim and send what is due now; return how many deliveries were handled."""
        jobs = await self._claim(self.clock.now())
        if not jobs:
            return 0
        await asyncio.gather(*(self._send(job) for job in jobs))
        return sum(len(j.deliveries) for j in jobs)

    async def _claim(self, now: datetime) -> list[Job]:
        async with transaction(self.pool) as conn:
            rows = await commands.claim_deliveries(
                conn, now, self.settings.dispatcher_batch_size, now + self.lease
            )
        jobs: dict[tuple[str, str, str, str | None], Job] = {}
        for d in rows:
            groupable = d["channel"] == "email" and d["digest_id"] is None and d["attempts"] == 1
            key = (
                (d["channel"], d["tenant"], d["recipient_id"], d["address"])
                if groupable
                else (d["channel"], d["tenant"], str(d["id"]), None)
            )
            job = jobs.setdefault(
                key, Job(d["channel"], d["tenant"], d["recipient_id"], d["address"], [])
            )
            job.deliveries.append(d)
        return list(jobs.values())

    async def _send(self, job: Job) -> None:
        started = self.clock.now()
        try:
            if job.channel == "email":
                detail = await self._send_email(job)
            else:
                detail = await self._send_webhook(job)
        except DeliveryError as exc:
            await self._finish(job, started, error=exc.detail, permanent=exc.permanent)
            return
        except RenderError as exc:
            await self._finish(job, started, error=f"template_error: {exc}", permanent=True)
            return
        except Exception as exc:  # a bug must not lose the delivery: retry, then fail
            log.exception("delivery crashed", extra={"recipient": job.recipient_id})
            await self._finish(job, started, error=f"internal_error: {exc!r}", permanent=False)
            return
        await self._finish(job, started, detail=detail)

    async def _send_email(self, job: Job) -> str:
        person = await storage.directory.addressee(self.pool, job.tenant, job.recipient_id)
        name = person["name"] if person else job.recipient_id
        lang = person["language"] if person else "ja"
        first = job.deliveries[0]
        if first["digest_id"] is not None:
            items = await storage.digests.items(self.pool, first["id"])
            cadence = await storage.digests.cadence(self.pool, first["digest_id"])
            notices = [self._view(r) for r in items]
            label = {
                ("ja", "daily"): "本日",
                ("ja", "weekly"): "今週",
                ("en", "daily"): "daily",
                ("en", "weekly"): "weekly",
            }.get((lang, cadence), cadence)
            text = self.renderer.email(
                "digest", lang, {"recipient": name, "items": notices, "period_label": label}
            )
            subject = (
                f"【Suishin】{label}の通知まとめ（{len(notices)}件）"
                if lang == "ja"
                else f"[Suishin] Your {label} digest ({len(notices)})"
            )
        else:
            notices = [
                self._view(n)
                for n in await storage.inbox.in_order(
                    self.pool, [d["notification_id"] for d in job.deliveries]
                )
            ]
            if len(notices) == 1:
                n = notices[0]
                text = self.renderer.email(
                    "email", lang, {"recipient": name, "n": n, "url": n["url"]}
                )
                subject = n["title"]
            else:
                text = self.renderer.email(
                    "email_group", lang, {"recipient": name, "items": notices}
                )
                subject = (
                    f"【Suishin】{len(notices)}件の通知: {notices[0]['title']}"
                    if lang == "ja"
                    else f"[Suishin] {len(notices)} notices: {notices[0]['title']}"
                )
        if not job.address:
            raise DeliveryError("no e-mail address", permanent=True)
        message = build_message(
            sender=self.settings.mail_from,
            to_address=job.address,
            to_name=name,
            subject=subject,
            text=text,
            headers={
                "X-Suishin-Tenant": job.tenant,
                "X-Suishin-Notifications": ",".join(str(n["id"]) for n in notices),
            },
        )
        return await self.smtp.send(message)

    async def _send_webhook(self, job: Job) -> str:
        d = job.deliveries[0]
        hook_id = job.recipient_id.removeprefix("webhook:")
        hook = await storage.directory.webhook(self.pool, job.tenant, hook_id)
        if hook is None or not hook["enabled"]:
            raise DeliveryError(f"webhook {hook_id} is unknown or disabled", permanent=True)
        (n,) = await storage.inbox.in_order(self.pool, [d["notification_id"]])
        view = self._view(n)
        body = render_body(hook["format"], view, view["url"])
        timestamp = int(self.clock.now().timestamp())
        return await self.webhooks.post(
            hook["url"], hook["secret"], body, timestamp=timestamp, delivery_id=str(d["id"])
        )

    def link_url(self, link: str | None) -> str:
        """The portal page of the entity a notice is about (the inbox when none)."""
        base = self.settings.portal_url.rstrip("/")
        if not link:
            return f"{base}/inbox"
        kind, _, ident = link.partition(":")
        return f"{base}/{kind.lower()}s/{ident}"

    def _view(self, n: dict[str, Any]) -> dict[str, Any]:
        return {
            **n,
            "url": self.link_url(n.get("link")),
            "created_at_jst": n["created_at"].astimezone(JST).strftime("%Y-%m-%d %H:%M"),
        }

    async def _finish(
        self,
        job: Job,
        started: datetime,
        *,
        detail: str | None = None,
        error: str | None = None,
        permanent: bool = False,
    ) -> None:
        finished = self.clock.now()
        async with transaction(self.pool) as conn:
            await commands.finish_attempts(
                conn,
                job.deliveries,
                started,
                finished,
                detail=detail,
                error=error,
                permanent=permanent,
                retries=self.retries,
            )
