"""Topic names and partition-key rules.

One topic per event type, except where one aggregate's events must keep their order across
types: the progress-report workflow (submitted → returned → … → published, the deadline's
reminder and overdue signals, a schedule slip) shares ``progress_report.workflow``, keyed by the
measure and period. The partition key is the aggregate id prefixed by the tenant, so all events
of one aggregate land in one partition and keep their order.
"""

from typing import Final

INDICATOR_REPORTED: Final = "indicator.reported"
INDICATOR_STATUS_CHANGED: Final = "indicator.status_changed"
MEASURE_STATUS_CHANGED: Final = "measure.status_changed"
MEASURE_EVALUATED: Final = "measure.evaluated"
NOTIFICATION_DELIVERED: Final = "notification.delivered"
PROGRESS_REPORT_WORKFLOW: Final = "progress_report.workflow"
PLAN_MILESTONE_DUE: Final = "plan.milestone_due"

ALL_TOPICS: Final = (
    INDICATOR_REPORTED,
    INDICATOR_STATUS_CHANGED,
    MEASURE_STATUS_CHANGED,
    MEASURE_EVALUATED,
    NOTIFICATION_DELIVERED,
    PROGRESS_REPORT_WORKFLOW,
    PLAN_MILESTONE_DUE,
)

DEAD_LETTER_SUFFIX: Final = ".dlq"
DEFAULT_PARTITIONS: Final = 6


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic that receives what a consumer of ``topic`` could not handle."""
    return f"{topic}{DEAD_LETTER_SUFFIX}"


def partition_key(tenant: str, aggregate_id: str) -> bytes:
    """Kafka message key: tenant and aggregate id, so one aggregate keeps its order."""
    return f"{tenant}:{aggregate_id}".encode()
