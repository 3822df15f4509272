"""Typed, bilingual errors for GraphQL and the CLI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import strawberry


@dataclass
class DomainError(Exception):
    """A refusal a user can act on. ``code`` is stable; messages are Japanese and English."""

    code: str
    message_ja: str
    message_en: str
    field: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message_en} / {self.message_ja}"


class NotFound(DomainError):
    def __init__(self, what_ja: str, what_en: str, ident: str) -> None:
        super().__init__(
            "NOT_FOUND", f"{what_ja}「{ident}」が見つかりません", f"{what_en} {ident!r} not found"
        )


class Forbidden(DomainError):
    def __init__(
        self,
        message_ja: str = "この操作の権限がありません",
        message_en: str = "You are not allowed to do this",
    ) -> None:
        super().__init__("FORBIDDEN", message_ja, message_en)


# Shareable: every subgraph returns it, and a federation router must accept that.
@strawberry.federation.type(
    description="A validation or business-rule error a user can act on.", shareable=True
)
class UserError:
    code: str = strawberry.field(description="Stable machine-readable code.")
    message: str = strawberry.field(description="Japanese message (default for users).")
    message_en: str = strawberry.field(description="English message.")
    field: str | None = strawberry.field(description="Input field path the error refers to.")

    @classmethod
    def of(cls, error: DomainError) -> UserError:
        return cls(
            code=error.code,
            message=error.message_ja,
            message_en=error.message_en,
            field=error.field,
        )
