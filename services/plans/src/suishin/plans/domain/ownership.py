"""Who answers for a node: its own 所管課, else the nearest ancestor's, else the plan's default
owner (e.g. the 事務局 of a plan that names no 所管課). Used for reporting rights (who may change
a measure's status, report its progress) and alert routing (the events' ``department_codes``).
Also the plan's own words for a node: its level label (取組 where the plan says 取組)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class OwnerSource(StrEnum):
    NODE = "node"  # the node's own owners
    ANCESTOR = "ancestor"  # inherited from the nearest ancestor that has owners
    PLAN_DEFAULT = "plan_default"  # the plan's default owner
    NONE = "none"  # nobody: the plan names no owner at all


@dataclass(frozen=True)
class ReportingOwners:
    codes: tuple[str, ...]
    source: OwnerSource

    @property
    def is_plan_default(self) -> bool:
        return self.source is OwnerSource.PLAN_DEFAULT


def owners_for_reporting(
    own: Sequence[str], ancestors: Sequence[Sequence[str]], plan_default: str | None
) -> ReportingOwners:
    """``own`` = the node's owners; ``ancestors`` = each ancestor's owners, nearest first."""
    if own:
        return ReportingOwners(tuple(own), OwnerSource.NODE)
    for owners in ancestors:
        if owners:
            return ReportingOwners(tuple(owners), OwnerSource.ANCESTOR)
    if plan_default:
        return ReportingOwners((plan_default,), OwnerSource.PLAN_DEFAULT)
    return ReportingOwners((), OwnerSource.NONE)


def owners_shown(owners: ReportingOwners, names: dict[str, str] | None = None) -> str:
    """The owners as printed in a workbook or message: 情報政策課（主）… or, for the plan's
    default owner, 「DX推進本部事務局（計画の既定の所管）」; never an empty 「（未設定）」 when the
    plan has a default owner."""
    named = [(names or {}).get(code, code) for code in owners.codes]
    if owners.is_plan_default:
        return f"{named[0]}（計画の既定の所管）"
    return "、".join(named)


def level_label(labels: Sequence[str], level: int) -> str | None:
    """The plan's word for a level (``labels`` top first), None past the printed levels."""
    return labels[level] if 0 <= level < len(labels) else None
