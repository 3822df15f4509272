"""Re-imports that never lose work done in the system: what a plan file would overwrite.

A value changed in the system since the last import (a status change, an edit of the title,
description, owners, ほか text or tags through the API, a plan published or superseded) is
*system work*. A re-import whose file says something else for that value is a conflict: the
import lists every conflict with both values and writes nothing unless the caller confirms with
an explicit overwrite. A value the file states the same way as the system is no conflict (the
file caught up), and a value last written by an import is the file's own and is updated as
before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from suishin.kit.errors import DomainError

# The node fields the API can change (node_history.field) and their names in messages.
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "status": ("状況", "status"),
    "title": ("名称", "title"),
    "description": ("説明", "description"),
    "others_text": ("ほか（関係課）", "others"),
    "tags": ("タグ", "tags"),
    "owners": ("所管課", "owners"),
    "state": ("計画の状態", "plan state"),
    "node": ("ノード", "node"),
}


@dataclass(frozen=True)
class ImportConflict:
    """One value the file would change although it was changed in the system since."""

    path: str
    """The node's path, or "" for the plan itself."""
    field: str
    file_value: Any
    system_value: Any
    changed_by: str
    changed_at: datetime | None = None

    def error(self) -> DomainError:
        ja_field, en_field = FIELD_LABELS.get(self.field, (self.field, self.field))
        where_ja = f"「{self.path}」の" if self.path else "計画の"
        where_en = f" of {self.path}" if self.path else " of the plan"
        when = f" {self.changed_at:%Y-%m-%d %H:%M}" if self.changed_at else ""
        file_shown, system_shown = _shown(self.file_value), _shown(self.system_value)
        if self.field == "node":
            return DomainError(
                "IMPORT_CONFLICT",
                f"{where_ja}ノードは計画ファイルにありませんが、システムで変更されています"
                f"（{self.changed_by}{when}）。取り込むと削除されます",
                f"node {self.path} is not in the plan file but was changed in the system "
                f"({self.changed_by}{when}); importing would delete it",
                field=self.path,
            )
        return DomainError(
            "IMPORT_CONFLICT",
            f"{where_ja}{ja_field}がシステムで変更されています（{self.changed_by}{when}）: "
            f"ファイル {file_shown} ／ システム {system_shown}",
            f"the {en_field}{where_en} was changed in the system ({self.changed_by}{when}): "
            f"file {file_shown} / system {system_shown}",
            field=self.path or "plan",
        )


def _shown(value: Any) -> str:
    if value is None:
        return "（なし / none）"
    if isinstance(value, str):
        return f"「{value}」"
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class SystemChange:
    """The latest change of one field when it did not come from an import."""

    field: str
    changed_by: str
    changed_at: datetime | None


def conflicts_for(
    path: str,
    file_values: dict[str, Any],
    system_values: dict[str, Any],
    changes: Iterable[SystemChange],
) -> list[ImportConflict]:
    """The conflicts of one node (or the plan, ``path`` ""): every field changed in the system
    whose file value differs from the system value."""
    out: list[ImportConflict] = []
    for change in changes:
        if change.field not in file_values:
            continue
        file_value = file_values[change.field]
        system_value = system_values.get(change.field)
        if file_value == system_value:
            continue
        out.append(
            ImportConflict(
                path, change.field, file_value, system_value, change.changed_by, change.changed_at
            )
        )
    return out


class ImportConflicts(DomainError):
    """The file would overwrite work done in the system; nothing was written."""

    def __init__(self, conflicts: list[ImportConflict]) -> None:
        super().__init__(
            "IMPORT_CONFLICTS",
            f"システムで変更された{len(conflicts)}件の値を計画ファイルが上書きするため、"
            "何も取り込みませんでした（上書きするには --overwrite を指定）",
            f"the plan file would overwrite {len(conflicts)} value(s) changed in the system; "
            "nothing was imported (confirm with --overwrite)",
        )
        self.conflicts = conflicts
        self.errors = [c.error() for c in conflicts]
