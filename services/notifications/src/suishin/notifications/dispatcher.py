"""Sends due e-mail and webhook deliveries, logs every attempt and retries with backoff.

Deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` and leased, so several replicas share
the work and a crashed sender's deliveries come back after the lease. Sending happens outside
the claiming transaction. E-mails due for one person are sent as one message (grouping). Final
outcomes (delivered, failed) are announced as ``notification.delivered``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from suishin.kit.clock import Clock
from suishin.notifications.channels import DeliveryError
from suishin.notifications.channels.email import SmtpSender, build_message
from suishin.notifications.channels.inbox import announce
from suishin.notifications.channels.webhook import WebhookSender, render_body
from suishin.notifications.notifier import Notifier
from suishin.notifications.rendering import Renderer, RenderError
from suishin.notifications.settings import NotificationsSettings
from suishin.notifications.shaping import JST, retry_delay

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
        notifier: Notifier,
    ) -> None:
        self._pool_source = pool_source
        self.settings = settings
        self.clock = clock
        self.renderer = renderer
        self.notifier = notifier
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

    async def run(self) -> None:
        while True:
            try:
                while await self.run_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatcher pass failed; continuing")
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.settings.dispatcher_poll_interval)

    async def run_once(self) -> int:
        """Claim and send what is due now; return how many deliveries were handled."""
        jobs = await self._claim(self.clock.now())
        if not jobs:
            return 0
        await asyncio.gather(*(self._send(job) for job in jobs))
        return sum(len(j.deliveries) for j in jobs)

    async def _claim(self, now: datetime) -> list[Job]:
        async with self.pool.acquire() as conn, conn.transaction():
            due = await conn.fetch(
                """select id from deliveries
                   where channel in ('email', 'webhook')
                     and ((status = 'pending' and next_attempt_at <= $1)
                          or (status = 'sending' and lease_until < $1))
                   order by next_attempt_at
                   limit $2
                   for update skip locked""",
                now,
                self.settings.dispatcher_batch_size,
            )
            ids = [r["id"] for r in due]
            if not ids:
                return []
            # Grouping: other e-mails already waiting for the same people go along, unless they
            # are digest items or being retried.
            extra = await conn.fetch(
                """select d.id from deliveries d
                   where d.channel = 'email' and d.status = 'pending' and d.attempts = 0
                     and d.digest_id is null and d.id <> all($1::uuid[])
                     and (d.tenant, d.recipient_id) in (
                         select tenant, recipient_id from deliveries
                         where id = any($1::uuid[]) and channel = 'email' and attempts = 0
                           and digest_id is null)
                   for update skip locked""",
                ids,
            )
            ids += [r["id"] for r in extra]
            rows = await conn.fetch(
                """update deliveries set status = 'sending', attempts = attempts + 1,
                       lease_until = $2
                   where id = any($1::uuid[])
                   returning *""",
                ids,
                now + self.lease,
            )
        jobs: dict[tuple[str, str, str, str | None], Job] = {}
        for row in rows:
            d = dict(row)
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

    async def _notifications(self, ids: Sequence[UUID]) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "select * from notifications where id = any($1::uuid[]) order by created_at, id",
            list(ids),
        )
        return [dict(r) for r in rows]

    async def _send_email(self, job: Job) -> str:
        person = await self.pool.fetchrow(
            """select p.name, coalesce(pr.language, p.language) as language from people p
               left join preferences pr on pr.tenant = p.tenant and pr.person_id = p.id
               where p.tenant = $1 and p.id = $2""",
            job.tenant,
            job.recipient_id,
        )
        name = person["name"] if person else job.recipient_id
        lang = person["language"] if person else "ja"
        first = job.deliveries[0]
        if first["digest_id"] is not None:
            items = await self.pool.fetch(
                """select n.* from deliveries d join notifications n on n.id = d.notification_id
                   where d.group_id = $1 order by n.created_at, n.id""",
                first["id"],
            )
            cadence = await self.pool.fetchval(
                "select cadence from digests where id = $1", first["digest_id"]
            )
            notices = [self._view(dict(r)) for r in items]
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
                for n in await self._notifications([d["notification_id"] for d in job.deliveries])
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
        hook = await self.pool.fetchrow(
            "select * from webhooks where tenant = $1 and id = $2", job.tenant, hook_id
        )
        if hook is None or not hook["enabled"]:
            raise DeliveryError(f"webhook {hook_id} is unknown or disabled", permanent=True)
        (n,) = await self._notifications([d["notification_id"]])
        view = self._view(n)
        body = render_body(hook["format"], view, view["url"])
        timestamp = int(self.clock.now().timestamp())
        return await self.webhooks.post(
            hook["url"], hook["secret"], body, timestamp=timestamp, delivery_id=str(d["id"])
        )

    def _view(self, n: dict[str, Any]) -> dict[str, Any]:
        return {
            **n,
            "url": self.notifier.link_url(n.get("link")),
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
        async with self.pool.acquire() as conn, conn.transaction():
            for d in job.deliveries:
                attempt = d["attempts"]
                if error is None:
                    result, status = "delivered", "delivered"
                elif permanent or attempt >= self.settings.delivery_max_attempts:
                    result, status = "failed", "failed"
                else:
                    result, status = "retry", "pending"
                await conn.execute(
                    """insert into delivery_attempts (delivery_id, attempt, started_at,
                           finished_at, outcome, error, detail)
                       values ($1, $2, $3, $4, $5, $6, $7)""",
                    d["id"],
                    attempt,
                    started,
                    finished,
                    result,
                    error,
                    detail,
                )
                next_at = (
                    finished
                    + retry_delay(
                        attempt,
                        self.settings.delivery_backoff_base,
                        self.settings.delivery_backoff_max,
                    )
                    if status == "pending"
                    else None
                )
                await conn.execute(
                    """update deliveries set status = $2, next_attempt_at = $3,
                           lease_until = null, last_error = $4,
                           finished_at = case when $2::text in ('delivered', 'failed')
                                              then $5::timestamptz end
                       where id = $1""",
                    d["id"],
                    status,
                    next_at,
                    error,
                    finished,
                )
                if status == "pending":
                    log.warning(
                        "delivery failed; will retry",
                        extra={
                            "delivery": str(d["id"]),
                            "channel": d["channel"],
                            "attempt": attempt,
                            "error": error,
                            "retry_at": str(next_at),
                        },
                    )
                    continue
                if status == "failed":
                    log.error(
                        "delivery failed for good",
                        extra={
                            "delivery": str(d["id"]),
                            "channel": d["channel"],
                            "attempts": attempt,
                            "error": error,
                        },
                    )
                await self._announce_final(conn, d, status, attempt, error, finished)

    async def _announce_final(
        self,
        conn: asyncpg.Connection,
        d: dict[str, Any],
        status: str,
        attempts: int,
        error: str | None,
        finished: datetime,
    ) -> None:
        if d["notification_id"] is not None:
            ids = [d["notification_id"]]
        else:  # a digest: every notice it carried reached (or missed) the person by e-mail
            rows = await conn.fetch(
                "select notification_id from deliveries where group_id = $1", d["id"]
            )
            ids = [r["notification_id"] for r in rows]
            await conn.execute(
                "update deliveries set status = $2, finished_at = $4, last_error = $3 "
                "where group_id = $1",
                d["id"],
                "delivered" if status == "delivered" else "failed",
                error,
                finished,
            )
        rows = await conn.fetch("select * from notifications where id = any($1::uuid[])", ids)
        for n in rows:
            await announce(
                conn, dict(n), channel=d["channel"], status=status, attempts=attempts, error=error
            )
