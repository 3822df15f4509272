"""The contracts' vocabularies as GraphQL enums, registered with Strawberry once, here.

Each subgraph imports the enums it exposes from this module (never redeclares them): the Python
values of a field are then the contracts' own members, and every subgraph that exposes an enum
publishes it under the same name, with the same members and description. A member's GraphQL name
is its Python name (``MeasureStatus.NEW``), its value the contracts' value (``"新規"``).
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

import strawberry

from suishin.contracts.enums import (
    Aggregation,
    Comparator,
    IndicatorStatus,
    MeasureStatus,
    Polarity,
    ProgressReportState,
    ScheduleAdherence,
    Severity,
)

__all__ = [
    "Aggregation",
    "Comparator",
    "IndicatorStatus",
    "MeasureStatus",
    "Polarity",
    "ProgressReportState",
    "ScheduleAdherence",
    "Severity",
    "graphql_enum",
]

E = TypeVar("E", bound=Enum)


def graphql_enum(enum: type[E], *, name: str, description: str) -> type[E]:
    """Register ``enum`` with Strawberry as the GraphQL enum ``name``, in place (the class
    itself is the enum Strawberry reads and returns). Registering it again under another name or
    description is a mistake: a subgraph would publish a different enum than the others."""
    existing = getattr(enum, "_enum_definition", None)
    if existing is not None:
        if (existing.name, existing.description) != (name, description):
            raise ValueError(f"{enum.__name__} is already the GraphQL enum {existing.name}")
        return enum
    return strawberry.enum(enum, name=name, description=description)


graphql_enum(
    IndicatorStatus, name="IndicatorStatus", description="Evaluated status of an indicator."
)
graphql_enum(
    MeasureStatus,
    name="MeasureStatus",
    description="Lifecycle status of a measure: NEW 新規, CONTINUED 継続, CHANGED 変更, "
    "EXPANDED 拡充 (active); COMPLETED 完了, ABOLISHED 廃止, MERGED 統合 (ended).",
)
graphql_enum(Polarity, name="Polarity", description="Which direction of an indicator is better.")
graphql_enum(
    Aggregation,
    name="Aggregation",
    description="How values add up: per fiscal year, cumulative (計/延べ) or as-of snapshot.",
)
graphql_enum(
    Comparator,
    name="Comparator",
    description="How a target is met: AT_LEAST 以上, AT_MOST 以下, EQUAL =, ABOUT 約 (tolerance).",
)
graphql_enum(Severity, name="NotificationSeverity", description="How serious a notice is.")

# Progress reports (進捗報告).
graphql_enum(
    ProgressReportState,
    name="ProgressReportState",
    description="Where a progress report stands: DRAFT 作成中, SUBMITTED 提出済, RETURNED 差戻し, "
    "ACCEPTED 受理, APPROVED 承認, PUBLISHED 公表, SUPERSEDED (a published version replaced by a "
    "correction).",
)
graphql_enum(
    ScheduleAdherence,
    name="ScheduleAdherence",
    description="How a schedule track of the year went: ON_SCHEDULE 予定どおり, AHEAD 前倒し, "
    "DELAYED 遅延, NOT_STARTED 未着手, COMPLETED 完了, CANCELLED 中止.",
)
