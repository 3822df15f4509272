"""Pure rules of the plans domain: codes, the node tree, schedule phases (no I/O).

The lifecycle lives in :mod:`suishin.plans.domain.lifecycle`, the yearly grades in
:mod:`suishin.plans.domain.grading`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from suishin.kit.errors import DomainError


class PlanState(StrEnum):
    DRAFT = "draft"
    OUTLINE = "outline"  # 素案
    PROPOSAL = "proposal"  # 案
    PUBLISHED = "published"
    SUPERSEDED = "superseded"


BEFORE_ADOPTION = frozenset({PlanState.DRAFT, PlanState.OUTLINE, PlanState.PROPOSAL})
"""Editions that are not (yet) the plan in force: internal, and the ones that may be published."""


class LineageRelation(StrEnum):
    """How a node relates to a node of an earlier edition (or why it ended)."""

    CARRIED_OVER = "carried_over"  # 継承: continues in this edition
    SPLIT = "split"  # one earlier node split into several
    MERGED = "merged"  # several earlier nodes merged into this one
    COMPLETED = "completed"  # ended as 完了 in the earlier edition
    RENAMED = "renamed"
    REPLACED = "replaced"


# --- codes -------------------------------------------------------------------------------------

_CODE_PREFIXES = re.compile(r"^(?:no\.?|№|#)\s*", re.IGNORECASE)
_BRACKETS = re.compile(r"^[\(\[【〔](.+)[\)\]】〕]$")


def normalize_code(printed: str) -> str:
    """The comparable form of a printed code: ``"№ 1"`` → ``"1"``, ``"（１）"`` → ``"1"``,
    ``"Ⅲ"`` → ``"III"``, ``"①"`` → ``"1"``. Unique only within a parent, like the printed code."""
    text = unicodedata.normalize("NFKC", printed).strip()
    text = _CODE_PREFIXES.sub("", text)
    text = re.sub(r"\s+", "", text)
    match = _BRACKETS.match(text)
    if match:
        text = match.group(1)
    return text


_ROMAN_RUN = re.compile(r"(?<![A-Za-z])[IVXLC]+(?![A-Za-z])")
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}


def _roman(text: str) -> int | None:
    total = 0
    for i, ch in enumerate(text):
        value = _ROMAN[ch]
        following = _ROMAN[text[i + 1]] if i + 1 < len(text) else 0
        total += -value if value < following else value
    return total if total > 0 else None


def code_key(printed: str) -> str:
    """The form printed code variants share: :func:`normalize_code` with Roman numerals as
    digits, so 「取組 10」, 「取組１０」 and 「取組Ⅹ」 all give ``取組10`` (Ⅲ-2 gives ``3-2``)."""
    text = normalize_code(printed)
    return _ROMAN_RUN.sub(lambda m: str(_roman(m.group(0)) or m.group(0)), text)


def resolve_path(
    path: str,
    children: Callable[[str | None], Sequence[tuple[str, str, Sequence[str]]]],
) -> str | None:
    """The stored path a printed path names: each segment matches a child's normalised code
    exactly, else by :func:`code_key` against its code, normalised code or code variants.
    ``children(parent_path)`` lists (path, code, variants) of the children (None = the roots)."""
    parent: str | None = None
    for segment in path.split("/"):
        found = None
        options = children(parent)
        for child_path, _code, _variants in options:
            if child_path.rsplit("/", 1)[-1] == segment:
                found = child_path
                break
        if found is None:
            key = code_key(segment)
            for child_path, code, variants in options:
                keys = {code_key(child_path.rsplit("/", 1)[-1]), code_key(code)}
                keys |= {code_key(v) for v in variants}
                if key in keys:
                    found = child_path
                    break
        if found is None:
            return None
        parent = found
    return parent


# --- schedule phases ---------------------------------------------------------------------------

# Printed yearly labels → a small vocabulary dashboards can colour. First match wins, so the
# more specific words come first.
_PHASES: tuple[tuple[str, str], ...] = (
    ("運用開始", "launch"),
    ("開始", "launch"),
    ("完了", "complete"),
    ("廃止", "end"),
    ("検討に基づく", "follow_up"),
    ("構築", "build"),
    ("導入", "build"),
    ("整備", "build"),
    ("設計", "build"),
    ("策定", "plan"),
    ("検討", "study"),
    ("研究", "study"),
    ("調査", "study"),
    ("実証", "pilot"),
    ("試験", "pilot"),
    ("拡大", "expand"),
    ("拡充", "expand"),
    ("向上", "expand"),
    ("推進", "promote"),
    ("運用", "operate"),
    ("実施", "implement"),
    ("見直し", "review"),
    ("更新", "renew"),
)
_NO_ACTIVITY = {"", "-", "－", "―", "—", "ー", "‐", "なし", "―――"}
_CONTINUE = {"→", "⇒", "→→", "継続"}


def normalize_phase(label: str | None) -> str:
    """Normalised phase of a printed yearly schedule label (検討 → study, "-" → none)."""
    if label is None:
        return "none"
    text = unicodedata.normalize("NFKC", label).strip()
    if text in _NO_ACTIVITY or set(text) <= {"-", "—", "―", "ー"}:
        return "none"
    if text in _CONTINUE or text.startswith("→"):
        return "continue"
    for word, phase in _PHASES:
        if word in text:
            return phase
    return "other"


# --- the node tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeSpec:
    """What the tree rules need to know about one node."""

    path: str
    parent_path: str | None
    code: str
    normalized_code: str
    goal_paths: tuple[str, ...] = ()
    where: str = ""


def validate_tree(nodes: Sequence[NodeSpec]) -> list[DomainError]:
    """Every problem of a node tree: unknown parents, duplicate codes under one parent,
    cycles through parents, and goal references that are unknown, self-referencing or point
    into the node's own subtree (a measure cannot serve a goal it contains)."""
    errors: list[DomainError] = []
    # A path is the parent's path plus the code, so two nodes share a path exactly when two
    # siblings share a code: reported below as DUPLICATE_CODE.
    by_path: dict[str, NodeSpec] = {}
    for node in nodes:
        by_path.setdefault(node.path, node)
    seen_codes: dict[tuple[str | None, str], NodeSpec] = {}
    for node in nodes:
        if node.parent_path is not None and node.parent_path not in by_path:
            errors.append(
                DomainError(
                    "UNKNOWN_PARENT",
                    f"親ノード「{node.parent_path}」が見つかりません（{node.path}）",
                    f"parent {node.parent_path!r} of {node.path!r} does not exist",
                    field=node.where or node.path,
                )
            )
        key = (node.parent_path, node.normalized_code)
        other = seen_codes.get(key)
        if other is not None and other is not node:
            parent = node.parent_path or "（最上位）"
            errors.append(
                DomainError(
                    "DUPLICATE_CODE",
                    f"同じ親「{parent}」の下でコード「{node.code}」が重複しています"
                    f"（{other.path} と {node.path}）",
                    f"code {node.code!r} appears twice under {node.parent_path or 'the root'!r} "
                    f"({other.path!r} and {node.path!r})",
                    field=node.where or node.path,
                )
            )
        seen_codes.setdefault(key, node)
    errors.extend(_cycles(nodes, by_path))
    for node in nodes:
        for goal in node.goal_paths:
            if goal not in by_path:
                errors.append(
                    DomainError(
                        "UNKNOWN_GOAL",
                        f"目標「{goal}」が見つかりません（{node.path}）",
                        f"goal {goal!r} referenced by {node.path!r} does not exist",
                        field=node.where or node.path,
                    )
                )
            elif goal == node.path or _is_ancestor(node.path, goal, by_path):
                errors.append(
                    DomainError(
                        "GOAL_CYCLE",
                        f"「{node.path}」が自身または配下のノード「{goal}」を目標に指定しています",
                        f"{node.path!r} names itself or its own descendant {goal!r} as its goal",
                        field=node.where or node.path,
                    )
                )
    return errors


def _cycles(nodes: Iterable[NodeSpec], by_path: dict[str, NodeSpec]) -> list[DomainError]:
    errors: list[DomainError] = []
    reported: set[str] = set()
    for node in nodes:
        trail: list[str] = []
        current: NodeSpec | None = node
        while current is not None and current.parent_path is not None:
            if current.path in trail:
                cycle = trail[trail.index(current.path) :]
                if not reported.intersection(cycle):
                    reported.update(cycle)
                    chain = " → ".join([*cycle, current.path])
                    errors.append(
                        DomainError(
                            "TREE_CYCLE",
                            f"ノードの親子関係が循環しています: {chain}",
                            f"the parent chain forms a cycle: {chain}",
                            field=node.where or node.path,
                        )
                    )
                break
            trail.append(current.path)
            current = by_path.get(current.parent_path)
    return errors


def _is_ancestor(ancestor: str, path: str, by_path: dict[str, NodeSpec]) -> bool:
    """True when ``ancestor`` is above ``path`` (cycle-safe)."""
    seen: set[str] = set()
    current = by_path.get(path)
    while current is not None and current.parent_path is not None:
        if current.parent_path == ancestor:
            return True
        if current.parent_path in seen:
            return False
        seen.add(current.parent_path)
        current = by_path.get(current.parent_path)
    return False


def require_reason(reason: str | None, *, field_name: str = "reason") -> str:
    text = (reason or "").strip()
    if not text:
        raise DomainError(
            "REASON_REQUIRED",
            "理由を入力してください",
            "A reason is required",
            field=field_name,
        )
    if len(text) > 2000:
        raise DomainError(
            "REASON_TOO_LONG",
            "理由は2000文字以内で入力してください",
            "The reason must be at most 2000 characters",
            field=field_name,
        )
    return text
