"""E-mail over SMTP (aiosmtplib). 5xx replies are permanent; 4xx, timeouts and connection
errors are retried by the dispatcher."""

from __future__ import annotations

import asyncio
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from suishin.notifications.channels import DeliveryError
from suishin.notifications.settings import NotificationsSettings


def build_message(
    *,
    sender: str,
    to_address: str,
    to_name: str | None,
    subject: str,
    text: str,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    if to_name:
        user, _, domain = to_address.partition("@")
        message["To"] = Address(display_name=to_name, username=user, domain=domain)
    else:
        message["To"] = to_address
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="suishin.example.jp")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, charset="utf-8")
    return message


class SmtpSender:
    def __init__(self, settings: NotificationsSettings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.timeout = settings.smtp_timeout
        self.start_tls = settings.smtp_start_tls
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        self.sender = settings.mail_from

    async def send(self, message: EmailMessage) -> str:
        """Send one message; return the server's reply; raise DeliveryError."""
        try:
            # The overall bound covers a server that accepts and then never answers.
            async with asyncio.timeout(self.timeout * 3):
                errors, reply = await aiosmtplib.send(
                    message,
                    hostname=self.host,
                    port=self.port,
                    timeout=self.timeout,
                    start_tls=self.start_tls,
                    username=self.username,
                    password=self.password,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            permanent = all(c >= 500 for c in codes)
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise DeliveryError(f"recipients refused: {detail}", permanent=permanent) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {exc.code} {exc.message}", permanent=exc.code >= 500
            ) from exc
        except (aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP timeout after {self.timeout}s: {exc!r}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP error: {exc!r}") from exc
        if errors:
            detail = "; ".join(f"{k}: {v.code} {v.message}" for k, v in errors.items())
            raise DeliveryError(f"recipients refused: {detail}", permanent=True)
        return reply
