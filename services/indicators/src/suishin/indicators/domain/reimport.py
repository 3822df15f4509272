"""Re-imports that never lose work done in the system: targets revised since the last import.

A target whose current revision was written by someone other than the plan-file import (a
``reviseTarget`` or ``defineIndicator`` by 事務局) is *system work*. A re-import whose file
prints another value for that target (or no longer prints the target at all) is a conflict:
the import lists each one with both values and writes nothing unless the caller confirms with
an explicit overwrite. A file that prints the system's value is no conflict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from suishin.indicators.domain.model import TargetSpec
from suishin.kit.errors import DomainError

Slot = tuple[int, int | None]


@dataclass(frozen=True)
class CurrentTarget:
    """A slot's current target as stored, with who wrote that revision and when."""

    spec: TargetSpec
    revised_by: str | None
    valid_from: datetime | None


@dataclass(frozen=True)
class TargetConflict:
    indicator_key: str
    slot: Slot
    file_value: TargetSpec | None
    """None: the file no longer prints this target (the import would close it)."""
    system_value: TargetSpec
    revised_by: str
    revised_at: datetime | None

    def error(self) -> DomainError:
        year, since = self.slot
        when = f" {self.revised_at:%Y-%m-%d}" if self.revised_at else ""
        years_ja = f"{since}〜{year}年度" if since is not None else f"{year}年度"
        years_en = f"FY{since}–FY{year}" if since is not None else f"FY{year}"
        return DomainError(
            "IMPORT_CONFLICT",
            f"指標「{self.indicator_key}」の{years_ja}の目標はシステムで改定されています"
            f"（{self.revised_by}{when}）: ファイル {shown(self.file_value)} ／ "
            f"システム {shown(self.system_value)}",
            f"the {years_en} target of indicator {self.indicator_key} was revised in the system "
            f"({self.revised_by}{when}): file {shown(self.file_value)} / "
            f"system {shown(self.system_value)}",
            field=f"{self.indicator_key}/{year}",
        )


def shown(spec: TargetSpec | None) -> str:
    if spec is None:
        return "（なし / none）"
    if spec.printed:
        return f"「{spec.printed}」"
    parts = [p for p in (_number(spec), spec.comparator.value if spec.comparator else None) if p]
    if spec.text:
        parts.append(spec.text)
    return "「" + " ".join(parts) + "」"


def _number(spec: TargetSpec) -> str | None:
    return None if spec.value is None else format(spec.value.normalize(), "f")


def target_conflicts(
    indicator_key: str,
    wanted: Mapping[Slot, TargetSpec],
    current: Mapping[Slot, CurrentTarget],
    importers: Iterable[str | None],
) -> list[TargetConflict]:
    """The slots revised outside an import (``revised_by`` not one of ``importers``) whose
    file value differs from the stored one, or that the file no longer prints."""
    by_import = set(importers)
    out: list[TargetConflict] = []
    for slot, stored in sorted(current.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if stored.revised_by in by_import:
            continue
        file_value = wanted.get(slot)
        if file_value is not None and file_value.same_value(stored.spec):
            continue
        out.append(
            TargetConflict(
                indicator_key,
                slot,
                file_value,
                stored.spec,
                stored.revised_by or "?",
                stored.valid_from,
            )
        )
    return out


class TargetConflicts(DomainError):
    """The file would overwrite targets revised in the system; nothing was written."""

    def __init__(self, conflicts: list[TargetConflict]) -> None:
        super().__init__(
            "IMPORT_CONFLICTS",
            f"システムで改定された{len(conflicts)}件の目標を計画ファイルが上書きするため、"
            "何も取り込みませんでした（上書きするには --overwrite を指定）",
            f"the plan file would overwrite {len(conflicts)} target(s) revised in the system; "
            "nothing was imported (confirm with --overwrite)",
        )
        self.conflicts = conflicts
        self.errors = [c.error() for c in conflicts]
