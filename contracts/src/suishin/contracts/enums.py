"""Vocabularies shared by more than one service."""

from enum import StrEnum


class IndicatorStatus(StrEnum):
    """Evaluation of an indicator for one period."""

    ACHIEVED = "achieved"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    NO_DATA = "no_data"
    STALE = "stale"


class MeasureStatus(StrEnum):
    """Lifecycle status of a measure (施策/取組) as the wards print it."""

    NEW = "新規"
    CONTINUED = "継続"
    CHANGED = "変更"
    EXPANDED = "拡充"
    COMPLETED = "完了"
    ABOLISHED = "廃止"
    MERGED = "統合"


class ProgressReportState(StrEnum):
    """Where a progress report (進捗報告) stands in its yearly workflow."""

    DRAFT = "draft"  # 作成中 (所管課)
    SUBMITTED = "submitted"  # 提出済 (所管課 → 事務局)
    RETURNED = "returned"  # 差戻し (事務局, with a comment)
    ACCEPTED = "accepted"  # 受理 (事務局)
    APPROVED = "approved"  # 承認 (DX推進本部 / CIO)
    PUBLISHED = "published"  # 公表
    SUPERSEDED = "superseded"  # a published version replaced by a corrected one


class ScheduleAdherence(StrEnum):
    """How one schedule track of the year went, as the 所管課 reports it."""

    ON_SCHEDULE = "on_schedule"  # 予定どおり
    AHEAD = "ahead"  # 前倒し
    DELAYED = "delayed"  # 遅延
    NOT_STARTED = "not_started"  # 未着手
    COMPLETED = "completed"  # 完了
    CANCELLED = "cancelled"  # 中止


class Polarity(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"
    KEEP = "keep"
    ZERO_TOLERANCE = "zero_tolerance"


class Aggregation(StrEnum):
    PER_YEAR = "per_year"
    CUMULATIVE = "cumulative"  # 計 / 延べ over the plan period
    SNAPSHOT = "snapshot"  # as-of value


class Comparator(StrEnum):
    AT_LEAST = "gte"  # 以上
    AT_MOST = "lte"  # 以下
    EQUAL = "eq"  # =
    ABOUT = "approx"  # 約


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Role(StrEnum):
    """Roles carried in a bearer token."""

    PUBLIC = "public"
    VIEWER = "viewer"
    REPORTER = "reporter"  # 所管課: reports for indicators its department owns
    ADMIN = "admin"  # 事務局
    EXECUTIVE = "executive"  # CIO / DX推進本部 member
