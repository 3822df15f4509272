"""Delivery channels: in-app inbox, e-mail over SMTP, signed webhooks."""


class DeliveryError(Exception):
    """A failed delivery attempt. ``permanent`` ones are not retried."""

    def __init__(self, detail: str, *, permanent: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent
