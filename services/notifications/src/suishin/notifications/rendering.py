"""Message templates (Jinja2), Japanese by default with English available.

Each kind has ``templates/<lang>/<kind>.j2`` with a ``title`` and a ``body`` block. E-mails wrap
one notice (``email.j2``), a group of notices (``email_group.j2``) or a digest (``digest.j2``).
A folder given in settings overrides single templates. A template that fails never loses the
notice: the caller falls back to :func:`fallback` and records the error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
)

from suishin.contracts.calendar import CalendarError, format_fiscal_year

log = logging.getLogger(__name__)

LANGUAGES = ("ja", "en")

SEVERITY_LABELS = {
    "ja": {"info": "お知らせ", "warning": "警告", "critical": "重大"},
    "en": {"info": "Info", "warning": "Warning", "critical": "Critical"},
}
STATUS_LABELS = {
    "ja": {
        "achieved": "達成",
        "on_track": "順調",
        "at_risk": "注意",
        "off_track": "未達見込み",
        "no_data": "実績なし",
        "stale": "報告期限超過",
    },
    "en": {
        "achieved": "achieved",
        "on_track": "on track",
        "at_risk": "at risk",
        "off_track": "off track",
        "no_data": "no data",
        "stale": "report overdue",
    },
}


class RenderError(Exception):
    """A template could not be rendered; ``template`` names it."""

    def __init__(self, template: str, error: Exception) -> None:
        super().__init__(f"{template}: {type(error).__name__}: {error}")
        self.template = template


class Renderer:
    def __init__(
        self, override_dir: Path | None = None, portal_url: str = "http://127.0.0.1:4005"
    ) -> None:
        loaders: list[Any] = []
        if override_dir is not None:
            loaders.append(FileSystemLoader(str(override_dir)))
        loaders.append(PackageLoader("suishin.notifications", "templates"))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["status"] = _status_label
        self.env.filters["severity"] = _severity_label
        self.env.filters["num"] = _number
        self.env.filters["fy"] = fiscal_year_label
        self.env.filters["level"] = level_label
        self.env.filters["owner"] = owner_line
        # What the router passes per tenant; these defaults serve callers that do not.
        self.env.globals["year_style"] = "wareki"
        # E-mails link to the ward portal: its inbox and its notification settings page.
        self.env.globals["settings_url"] = f"{portal_url.rstrip('/')}/settings"
        self.env.globals["inbox_url"] = f"{portal_url.rstrip('/')}/inbox"

    def notice(self, kind: str, language: str, context: Mapping[str, Any]) -> tuple[str, str]:
        """(title, body) for one notice."""
        lang = language if language in LANGUAGES else "ja"
        name = f"{lang}/{kind}.j2"
        ctx = {"lang": lang, **context}
        try:
            template = self.env.get_template(name)
            new_context = template.new_context(dict(ctx))
            title = "".join(template.blocks["title"](new_context)).strip()
            body = "".join(template.blocks["body"](new_context)).strip()
        except (TemplateError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RenderError(name, exc) from exc
        if not title:
            raise RenderError(name, ValueError("empty title"))
        return title, body

    def email(self, template: str, language: str, context: Mapping[str, Any]) -> str:
        lang = language if language in LANGUAGES else "ja"
        name = f"{lang}/{template}.j2"
        try:
            return self.env.get_template(name).render(lang=lang, **context).strip() + "\n"
        except (TemplateError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RenderError(name, exc) from exc


def fallback(kind: str, language: str, facts: Mapping[str, Any]) -> tuple[str, str]:
    """A plain notice built without templates, used when a template is broken."""
    title = str(facts.get("title") or facts.get("code") or kind)
    if language == "en":
        head = f"[{kind}] {title}"
        body = f"Notice {kind} about {title}. (Template unavailable; raw facts follow.)"
    else:
        head = f"【{kind}】{title}"
        body = f"「{title}」に関する通知（{kind}）です。（テンプレートを使用できないため簡易表示）"
    reason = facts.get("reason")
    if reason:
        body += f"\n{reason}"
    return head, body


YEAR_STYLES = ("wareki", "fiscal")
"""How a tenant prints fiscal years: 令和3年度 (wareki, the default) or FY2021 (fiscal)."""

_LEVELS_EN = {"施策": "measure", "取組": "initiative", "事業": "project", "目標": "goal"}


def fiscal_year_label(value: Any, lang: str = "ja", style: str = "wareki") -> str:
    """A fiscal year (2021 or FY2021) in the tenant's style: 令和3年度 (ja, wareki), FY2021
    (fiscal, and always in English)."""
    text = str(value)
    digits = text[2:6] if text.startswith("FY") else text
    try:
        fy = int(digits)
    except ValueError:
        return text
    suffix = "（上半期）" if text.endswith("-H1") and lang == "ja" else ""
    suffix = " (first half)" if text.endswith("-H1") and lang != "ja" else suffix
    if lang != "ja" or style == "fiscal":
        return f"FY{fy}{suffix}"
    try:
        return format_fiscal_year(fy, "wareki") + suffix
    except CalendarError:
        return f"FY{fy}{suffix}"


def level_label(value: str | None, lang: str = "ja") -> str:
    """The plan's word for a measure's level (取組, 施策, ...); 施策 when the event has none."""
    label = value or "施策"
    if lang == "ja":
        return label
    return _LEVELS_EN.get(label, label)


def owner_line(departments: Sequence[str] | None, lang: str = "ja") -> str:
    """Who owns the subject: the owning departments, or (when the plan names none) the
    plan's default owner, the 事務局, who receives what the owner would."""
    if departments:
        if lang == "ja":
            return "所管課: " + "、".join(departments)
        return "Owning departments: " + ", ".join(departments)
    if lang == "ja":
        return "所管: 事務局（計画に所管課の記載がないため、計画の既定の所管として）"
    return "Owner: the secretariat (the plan names no owning department; its default owner)"


def _status_label(value: str | None, lang: str = "ja") -> str:
    if value is None:
        return "—" if lang == "ja" else "-"
    return STATUS_LABELS.get(lang, STATUS_LABELS["ja"]).get(value, value)


def _severity_label(value: str, lang: str = "ja") -> str:
    return SEVERITY_LABELS.get(lang, SEVERITY_LABELS["ja"]).get(value, value)


def _number(value: Any) -> str:
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.2f}".rstrip("0").rstrip(".")


def join(items: Sequence[str], lang: str) -> str:
    return ("、" if lang == "ja" else ", ").join(items)
