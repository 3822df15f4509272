"""Server-rendered SVG charts: actuals (bars) against targets (markers) per fiscal year.

No script and no external asset: the chart is part of the page, with a title and a description
for screen readers, and the page shows the same figures in a table next to it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

STATUS_COLOURS = {
    "ACHIEVED": "#1b7f3b",
    "ON_TRACK": "#2a6fb0",
    "AT_RISK": "#a86400",
    "OFF_TRACK": "#c0262d",
    "NO_DATA": "#6b6b6b",
    "STALE": "#6b6b6b",
}


@dataclass(frozen=True)
class Point:
    label: str
    actual: Decimal | None
    target: Decimal | None
    status: str


def number(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def points_of(series: list[dict[str, Any]]) -> list[Point]:
    return [
        Point(
            label=str(p.get("label") or p.get("period") or p.get("fiscalYear")),
            actual=number(p.get("actual")),
            target=number((p.get("target") or {}).get("value")),
            status=str((p.get("status") or {}).get("status") or "NO_DATA"),
        )
        for p in series
    ]


def fmt(value: Decimal | None) -> str:
    if value is None:
        return "-"
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def series_svg(points: list[Point], *, title: str, unit: str | None, width: int = 560) -> str:
    """Bars for actuals coloured by status, a dark tick for each year's target."""
    height, left, right, top, bottom = 220, 56, 12, 16, 40
    values = [v for p in points for v in (p.actual, p.target) if v is not None]
    top_value = max(values, default=Decimal(1))
    low = min(values, default=Decimal(0))
    floor = min(low, Decimal(0))
    span = (top_value - floor) or Decimal(1)
    plot_w = width - left - right
    plot_h = height - top - bottom
    step = plot_w / max(len(points), 1)

    def y(value: Decimal) -> float:
        return top + plot_h - float((value - floor) / span) * plot_h

    description = "; ".join(
        f"{p.label}: 実績 {fmt(p.actual)} / 目標 {fmt(p.target)}{unit or ''}" for p in points
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" class="chart" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(description)}</desc>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
    ]
    for tick in (floor, floor + span / 2, top_value):
        parts.append(
            f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#222">{escape(fmt(tick.quantize(Decimal("0.01")).normalize()))}</text>'
        )
    for i, p in enumerate(points):
        cx = left + step * i + step / 2
        bar_w = min(36.0, step * 0.5)
        if p.actual is not None:
            y0 = y(max(p.actual, floor))
            base = y(floor)
            colour = STATUS_COLOURS.get(p.status, "#6b6b6b")
            parts.append(
                f'<rect x="{cx - bar_w / 2:.1f}" y="{min(y0, base):.1f}" width="{bar_w:.1f}" '
                f'height="{abs(base - y0):.1f}" fill="{colour}"/>'
            )
        if p.target is not None:
            ty = y(p.target)
            parts.append(
                f'<line x1="{cx - bar_w / 2 - 6:.1f}" y1="{ty:.1f}" x2="{cx + bar_w / 2 + 6:.1f}" '
                f'y2="{ty:.1f}" stroke="#111" stroke-width="3"/>'
            )
        parts.append(
            f'<text x="{cx:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11" '
            f'fill="#222">{escape(p.label)}</text>'
        )
    parts.append(
        f'<text x="{left}" y="{height - 6}" font-size="11" fill="#222">'
        "■ 実績（色は状態）　━ 目標</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
