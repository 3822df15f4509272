"""Build the reference plan files in ``datasets/`` from the analysts' extractions.

    uv run python tools/build_datasets.py            # (re)write datasets/*.yaml
    uv run python tools/build_datasets.py --check    # exit 1 if the files on disk differ

The extractions live in ``<repo>/../shared/reference/plans/*.json`` (override with
``--reference DIR``). Each converter keeps the analyst's inferred / uncertain points as notes and
fixes obvious extraction errors against ``reference/sources/*.txt``, recording each fix as a
``corrected`` note; ``datasets/README.md`` explains every file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from suishin.contracts.planfile import PlanFile, dump_plan_file

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = REPO.parent / "shared" / "reference"
DEFAULT_OUT = REPO / "datasets"

Data = dict[str, Any]

# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def note(kind: str, text: str, field: str | None = None) -> Data:
    out: Data = {"kind": kind, "text": text}
    if field:
        out["field"] = field
    return out


def remark_or_inferred(text: str | None, field: str | None = None) -> list[Data]:
    """An extraction note becomes an ``inferred`` note when it says so, else a remark."""
    if not text:
        return []
    kind = "inferred" if re.search(r"推定|inferred|判別不能|可能性", text) else "remark"
    return [note(kind, text, field)]


OPEN_ENDED = ("その他関係部署", "関係部署", "関係課", "ほか", "その他の課", "各課")


def clean_name(name: str) -> str:
    """Department names as printed, without the spaces PDF extraction inserts."""
    return re.sub(r"\s+", "", name)


class Departments:
    """The departments one file references, in first-use order."""

    def __init__(self, parents: dict[str, str] | None = None) -> None:
        self.parents = parents or {}
        self.items: dict[str, Data] = {}

    def add(self, printed: str) -> str:
        code = clean_name(printed)
        parent = self.parents.get(code)
        if parent is not None and parent not in self.items:
            self.add(parent)
        if code not in self.items:
            kind = "bu" if code.endswith(("部", "局")) and not code.endswith("本部") else "ka"
            if re.search(r"(センター|事務所|図書館|館|相談所)$", code):
                kind = "office"
            item: Data = {"code": code, "name": code, "kind": kind}
            if parent is not None:
                item["parent"] = parent
            self.items[code] = item
        if printed != code and printed not in self.items[code].setdefault("aliases", []):
            self.items[code]["aliases"].append(printed)
        return code

    def owners(self, printed: Iterable[str]) -> tuple[list[str], str | None]:
        codes: list[str] = []
        others: list[str] = []
        for name in printed:
            name = name.strip()
            if not name:
                continue
            if clean_name(name) in OPEN_ENDED:
                others.append(clean_name(name))
                continue
            code = self.add(name)
            if code not in codes:
                codes.append(code)
        return codes, ("、".join(others) or None)

    def data(self) -> list[Data]:
        out = []
        for item in self.items.values():
            item = dict(item)
            if not item.get("aliases"):
                item.pop("aliases", None)
            out.append(item)
        return out


_PHASES: list[tuple[str, tuple[str, ...]]] = [
    ("piloting", ("試行", "実証", "検証", "試験")),
    ("building", ("構築", "整備", "導入", "設置", "調達", "更改", "移行", "選定", "策定", "改修")),
    ("building", ("配備", "着手", "設計", "再構築")),
    ("expanding", ("拡大", "拡充", "充実", "増")),
    ("completed", ("完了",)),
    ("planning", ("検討", "研究", "調査", "協議", "方針")),
    (
        "running",
        ("運用", "実施", "推進", "活用", "徹底", "更新", "公開", "開始", "対応", "周知", "開催"),
    ),
]


def phase_of(label: str | None) -> str | None:
    """Normalise a printed schedule label; None when it names no phase."""
    if label is None:
        return None
    text = re.sub(r"\s+", "", label)
    if text in ("", "-", "－", "―", "—", "ー"):
        return "none"
    if text.startswith("運用"):
        return "running"
    if re.search(r"検討|研究|調査|協議", text) and not re.search(
        r"構築|実施|運用|対応|導入|拡大|整備", text
    ):
        return "planning"
    for phase, words in _PHASES:
        if any(w in text for w in words):
            return phase
    return None


def schedule_entry(
    fy: int, label: str, fallback: str | None = None, track: str | None = None
) -> Data:
    entry: Data = {
        "fiscal_year": fy,
        "label": label,
        "phase": phase_of(label) or phase_of(fallback) or "running",
    }
    if track:
        entry["track"] = track
    return entry


def number(text: str) -> float | int | None:
    m = re.search(r"-?[\d,]+(\.\d+)?", text)
    if not m:
        return None
    raw = m.group(0).replace(",", "")
    return float(raw) if "." in raw else int(raw)


def clean(data: Any) -> Any:
    """Drop None values and empty lists/dicts so the files stay readable."""
    if isinstance(data, dict):
        out = {k: clean(v) for k, v in data.items()}
        return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}
    if isinstance(data, list):
        return [clean(v) for v in data]
    return data


ROMAN = ["Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ", "Ⅵ"]

# ---------------------------------------------------------------------------------------------
# 板橋区 DX推進計画2025: 後期実施計画 (FY2024-2025) and 前期実施計画 (FY2021-2023)
# ---------------------------------------------------------------------------------------------

ITABASHI = {"slug": "itabashi", "name": "板橋区", "name_en": "Itabashi City"}
ITABASHI_PARENTS = {"IT推進課": "政策経営部"}


def itabashi_governance(depts: Departments) -> tuple[list[Data], list[Data]]:
    it = depts.add("IT推進課")
    depts.add("政策経営部")
    bodies = [
        {
            "code": "DX推進本部",
            "name": "DX推進本部",
            "kind": "本部",
            "chair": "区長",
            "secretariat": it,
            "role": "区の情報化施策の総合調整。計画の進捗状況の報告を受け、施策の進行管理結果の"
            "報告先となる（第5章）。",
            "former_names": ["ICT推進・活用本部"],
            "renamed_on": "2024-04",
            "notes": [
                note("remark", "令和6（2024）年4月に「ICT推進・活用本部」から改称予定と記載。")
            ],
        },
        {
            "code": "情報化推進部会",
            "name": "情報化推進部会",
            "kind": "部会",
            "parent": "DX推進本部",
            "chair": "政策経営部長",
            "members_text": "関係課長",
            "role": "計画策定の検討を行い、結果を本部へ報告する。",
        },
        {
            "code": "情報システム検討部会",
            "name": "情報システム検討部会",
            "kind": "部会",
            "parent": "DX推進本部",
        },
        {
            "code": "情報セキュリティ部会",
            "name": "情報セキュリティ部会",
            "kind": "部会",
            "parent": "DX推進本部",
        },
        {
            "code": "働き方改革検討会",
            "name": "働き方改革検討会",
            "kind": "会議",
            "members_text": "経営改革推進課、IT推進課、人事課",
            "role": "柔軟な働き方の運用方法の検討や職員への周知（基本方針施策2）。",
        },
        {
            "code": "個人情報保護外部評価委員会",
            "name": "板橋区個人情報保護に関する外部評価委員会",
            "kind": "委員会",
            "role": "個人情報保護の外部評価（推進体制強化施策1）。",
        },
    ]
    posts = [
        {"code": "本部長", "name": "DX推進本部長", "held_by": "区長"},
        {
            "code": "CIO",
            "name": "情報統括責任者",
            "held_by": "副区長",
            "role": "DX推進本部における所掌事務を統括し、本部長を補佐する。",
        },
        {
            "code": "CISO",
            "name": "最高情報セキュリティ責任者",
            "held_by": "副区長（CIOが兼務）",
            "role": "全てのネットワーク、情報システム等の情報資産の管理や情報セキュリティに関する"
            "権限及び責任を有する。",
        },
        {
            "code": "CIO補佐官",
            "name": "CIO補佐官・CISO補佐官",
            "held_by": "政策経営部長",
            "role": "CIO、CISOの業務を補佐する。",
        },
        {
            "code": "事務局",
            "name": "事務局（IT推進課）",
            "department": it,
            "role": "本部及びCIO・CISOの庶務。",
        },
    ]
    return bodies, posts


ITABASHI_LATE_SCALE: Data = {
    "rule": "itabashi-dx2025-late",
    "description": "施策単位・2か年（令和6年度は進行管理、令和7年度に最終評価）の評語（第6章）。",
    "grades": [
        {
            "code": "achieved_plus",
            "label": "達成＋",
            "label_variants": ["達成+"],
            "description": "計画の事業量を上回る実績となっている。ただし、数値による定量的な計画事業量が"
            "設定されており、設定されている計画事業量の全てが「達成」と評価できる状況にあることと"
            "する。",
        },
        {
            "code": "achieved",
            "label": "達成",
            "description": "２か年事業量の全部若しくは大部分を達成している、又は施策としては達成している。",
        },
        {
            "code": "not_achieved",
            "label": "未達成",
            "failing": True,
            "description": "施策の遅延等により、２か年の事業量の全部若しくは大部分が達成されていない、"
            "又は施策として完了していない。",
        },
    ],
}

ITABASHI_EARLY_SCALE: Data = {
    "rule": "itabashi-dx2025-early",
    "description": "施策単位・年度単位の評語（資料編「前期実施計画の進捗状況」）。",
    "grades": [
        {
            "code": "achieved_plus",
            "label": "達成＋",
            "label_variants": ["達成+"],
            "description": "令和X年度計画の事業量を上回る実績となっている。",
        },
        {
            "code": "achieved",
            "label": "達成",
            "description": "令和X年度計画の事業量の全部若しくは大部分を達成している、又は施策としては"
            "完了している。",
        },
        {
            "code": "not_achieved",
            "label": "未達成",
            "failing": True,
            "description": "施策の遅延等により、令和X年度計画の事業量の全部若しくは大部分が達成されて"
            "いない、又は施策として完了していない。",
        },
    ],
}

GRADE_CODES = {
    "達成＋": "achieved_plus",
    "達成+": "achieved_plus",
    "達成": "achieved",
    "未達成": "not_achieved",
}

EARLY_POLICIES = [
    ("基本方針Ⅰ", "業務の改善・効率化", range(1, 12)),
    ("基本方針Ⅱ", "マイナンバーカードの普及・活用", range(12, 16)),
    ("基本方針Ⅲ", "オンライン化の促進", range(16, 20)),
    ("基本方針Ⅳ", "データの利活用", range(20, 26)),
]


def _late_paths(src: Data) -> tuple[dict[str, str], dict[str, str]]:
    """uid -> path for the 後期 tree, and qualified code (基本方針施策8) -> path."""
    uid_path: dict[str, str] = {}
    qualified: dict[str, str] = {}
    policy_of: dict[str, str] = {}
    for level in src["hierarchy"]:
        if level["level"] == 3:
            for item in level["items"]:
                for q in item.get("measures", []):
                    policy_of[q] = item["id"]
    for m in src["measures"]:
        if m["phase"] != "後期":
            continue
        if m["level"] == "施策":
            q = m["qualified_code"]
            path = f"{policy_of[q]}/施策{number(m['code'])}"
            uid_path[m["uid"]] = path
            qualified[q] = path
    for m in src["measures"]:
        if m["phase"] == "後期" and m["level"] != "施策":
            parent = uid_path[m["parent_code"]]
            uid_path[m["uid"]] = f"{parent}/{m['uid'].split('.')[-1]}"
    return uid_path, qualified


def _early_paths(src: Data) -> dict[str, str]:
    out: dict[str, str] = {}
    policy = {n: code for code, _, nums in EARLY_POLICIES for n in nums}
    for m in src["measures"]:
        if m["phase"] != "前期":
            continue
        if m["level"] == "施策":
            no = int(m["code"])
            out[m["uid"]] = f"{policy[no]}/施策{no}"
    for m in src["measures"]:
        if m["phase"] == "前期" and m["level"] != "施策":
            out[m["uid"]] = f"{out[m['parent_code']]}/{m['uid'].split('.')[-1]}"
    return out


def _late_lineage(
    src: Data, early_paths: dict[str, str], qualified: dict[str, str]
) -> dict[str, list[Data]]:
    """Lineage of each 後期 measure from the 前期 measures that name it as destination."""
    sources: dict[str, list[tuple[str, bool]]] = {}
    dests_of: dict[str, list[str]] = {}
    for m in src["measures"]:
        if m["phase"] != "前期" or m["level"] != "施策":
            continue
        dests: list[str] = []
        for d in m.get("later_phase_destinations", []):
            inferred = "推定" in d
            q = re.sub(r"（推定）|\s", "", d)
            if q in qualified:
                dests.append(q)
                sources.setdefault(q, []).append((m["uid"], inferred))
        dests_of[m["uid"]] = dests
    out: dict[str, list[Data]] = {}
    for q, srcs in sources.items():
        lineage = []
        for uid, inferred in srcs:
            if len(dests_of[uid]) > 1:
                kind = "split"
            elif len(srcs) > 1:
                kind = "merged"
            else:
                kind = "carried_over"
            entry: Data = {"kind": kind, "from_plan": "dx2025-early", "from_path": early_paths[uid]}
            if inferred:
                entry["note"] = "掲載先は印字なし。結合セルからの推定（inferred）。"
            lineage.append(entry)
        out[qualified[q]] = lineage
    return out


def _late_items_label(status_label: str | None) -> str | None:
    return status_label.replace("【定量事業量】", "") if status_label else None


def build_itabashi_late(src: Data) -> Data:
    depts = Departments(ITABASHI_PARENTS)
    bodies, posts = itabashi_governance(depts)
    uid_path, qualified = _late_paths(src)
    early_paths = _early_paths(src)
    lineage = _late_lineage(src, early_paths, qualified)

    nodes: list[Data] = []
    for level in src["hierarchy"]:
        if level["level"] == 2:
            for item in level["items"]:
                nodes.append(
                    {
                        "code": item["id"],
                        "kind": "group",
                        "level": 0,
                        "title": item["title"],
                        "notes": [note("remark", level["note"])],
                    }
                )
    groups: dict[str, Data] = {}
    for level in src["hierarchy"]:
        if level["level"] != 3:
            continue
        for item in level["items"]:
            group: Data = {
                "code": item["id"],
                "kind": "group",
                "level": 1,
                "title": item["title"],
                "description": item.get("slogan") or item.get("detail"),
                "children": [],
                "notes": [],
            }
            if item.get("prior_phase_title"):
                group["notes"].append(note("remark", f"前期の名称：{item['prior_phase_title']}"))
            if item.get("new_in_later_phase"):
                group["notes"].append(note("remark", "後期実施計画で新設された基本方針。"))
            groups[item["id"]] = group
            nodes.append(group)

    measures: dict[str, Data] = {}
    for m in src["measures"]:
        if m["phase"] != "後期" or m["level"] != "施策":
            continue
        path = uid_path[m["uid"]]
        owners, others = depts.owners(m["owner_department"])
        derived = m.get("derived_status", "")
        status = "新規" if derived.startswith("新規") else "継続"
        node: Data = {
            "code": m["code"],
            "normalized_code": path.split("/")[-1],
            "kind": "measure",
            "level": 2,
            "title": m["title"],
            "title_variants": sorted(
                {v for v in (m.get("title_variants") or {}).values() if v != m["title"]}
            ),
            "description": m["description"],
            "owners": owners,
            "others_text": others,
            "status": status,
            "lineage": lineage.get(path) or ([{"kind": "new"}] if status == "新規" else []),
            "source": m.get("table_header"),
            "notes": [
                note("inferred", f"施策の状態は印字なし。抽出の推定：{derived}", "status"),
                *remark_or_inferred(m.get("notes")),
            ],
            "children": [],
        }
        measures[m["uid"]] = node
        groups[path.split("/")[0]]["children"].append(node)

    for m in src["measures"]:
        if m["phase"] != "後期" or m["level"] == "施策":
            continue
        owners, others = depts.owners(m["owner_department"])
        parent = measures[m["parent_code"]]
        label = _late_items_label(m.get("status_label"))
        item_node: Data = {
            "code": m["uid"].split(".")[-1],
            "kind": "item",
            "level": 3,
            "title": m["title"],
            "status_label": m.get("status_label"),
            "tags": ["定量事業量"] if m.get("quantitative_tag") else [],
            "schedule": [
                schedule_entry(int(fy), text, label) for fy, text in sorted(m["schedule"].items())
            ],
            "notes": [
                *remark_or_inferred(m.get("notes")),
                *(
                    [note("remark", m["owner_department_note"], "owners")]
                    if m.get("owner_department_note")
                    else []
                ),
            ],
        }
        if owners != parent["owners"] or others != parent.get("others_text"):
            item_node["owners"], item_node["others_text"] = owners, others
        if "チャットボッド" in m["title"]:
            item_node["notes"].append(
                note(
                    "source_typo",
                    "原文表記「チャットボッド」（チャットボットの誤記）を保持。",
                    "title",
                )
            )
        parent["children"].append(item_node)

    indicators = []
    for ind in src["indicators"]:
        if ind["phase"] != "後期":
            continue
        indicators.append(_late_indicator(ind, uid_path))

    plan = {
        "key": "dx2025-late",
        "title": "板橋区DX推進計画2025 後期実施計画",
        "kind": "実施計画",
        "period": {"start": 2024, "end": 2025},
        "phase": "後期",
        "predecessor": "dx2025-early",
        "parent_plan": "dx2025",
        "state": "published",
        "level_labels": ["ビジョン", "基本方針・推進体制強化", "施策", "事業量"],
        "published_on": "2024-01",
        "source": "板橋区DX推進計画2025 後期実施計画（令和6（2024）年1月） "
        "reference/sources/itabashi-dx-2025-late.txt",
        "description": src["document"]["kind"],
        "tags": [
            {
                "code": "定量事業量",
                "label": "【定量事業量】",
                "description": "数値による定量的な計画事業量が設定された項目（達成＋判定の前提）。",
            }
        ],
        "notes": [
            note("remark", src["document"]["name_change"]),
            note(
                "remark",
                "基本計画（2021〜2025年度、ビジョン）は前期から改訂せず踏襲。"
                "parent_plan「dx2025」は基本計画を指す（本データセットに基本計画単独のファイルはない）。",
            ),
            *[note("remark", c) for c in src["document"]["extraction_caveats"]],
        ],
    }
    return {
        "format_version": 1,
        "tenant": ITABASHI,
        "grading_scale": ITABASHI_LATE_SCALE,
        "departments": depts.data(),
        "bodies": bodies,
        "posts": posts,
        "plan": plan,
        "nodes": nodes,
        "indicators": indicators,
    }


def _late_indicator(ind: Data, uid_path: dict[str, str]) -> Data:
    def path_of(ref: str) -> str:
        uid = re.search(r"\((L-[BS]\d+\.\d+)\)", ref)
        assert uid, ref
        return uid_path[uid.group(1)]

    kind = ind["target_kind"]
    notes: list[Data] = [*remark_or_inferred(ind.get("notes"))]
    aggregation = "per_year"
    milestone = False
    if ind["uid"] in ("I-L14", "I-L22"):
        aggregation = "snapshot"
        if ind["uid"] == "I-L22":
            notes.append(
                note(
                    "inferred",
                    "登録者数（友だち数）は累計（ストック）と推定し as-of 値として扱う。",
                    "aggregation",
                )
            )
    if ind["uid"] == "I-L40":
        aggregation, milestone = "snapshot", True
    comparator = "gte"
    if kind.startswith("approximate"):
        comparator = "approx"
    elif kind.startswith("target value"):
        notes.append(
            note(
                "inferred",
                "目標値に「以上」の表記なし。事業量の下限として gte（以上）と解釈。",
                "targets",
            )
        )
    targets = []
    for t in ind["targets"]:
        target: Data = {"fiscal_year": t["fiscal_year"], "printed": t["printed"]}
        if t["value"] is None:
            target["text"] = re.split(r"[：\s]", t["printed"].strip())[-1]
        else:
            target["comparator"], target["value"] = comparator, t["value"]
        targets.append(target)
    baseline = None
    if ind["baseline"].get("value") is not None:
        b = ind["baseline"]
        baseline = {"value": b["value"], "fiscal_year": b["fiscal_year"], "source": b.get("source")}
        if "推定" in (b.get("source") or ""):
            notes.append(note("inferred", f"基準値：{b['source']}", "baseline"))
    if ind.get("derived_baseline"):
        d = ind["derived_baseline"]
        notes.append(
            note(
                "inferred",
                f"逆算した基準値 {d['value']}（{d['fiscal_year']}年度）：{d['derivation']}",
            )
        )
    if ind.get("related_prior_actual"):
        r = ind["related_prior_actual"]
        notes.append(note("remark", f"前期の関連実績：{r['value']}（{r['fiscal_year']}）"))
    nodes = [path_of(ind["measure_code"])] + [path_of(x) for x in ind.get("also_listed_under", [])]
    return {
        "key": f"dx2025-late.{ind['uid'][2:].lower()}",
        "title": ind["name"],
        "nodes": nodes,
        "unit": ind["unit"],
        "polarity": ind["polarity"],
        "aggregation": aggregation,
        "milestone": milestone,
        "baseline": baseline,
        "targets": targets,
        "source": f"抽出 {ind['uid']}",
        "notes": notes,
    }


# -- 前期 --------------------------------------------------------------------------------------

# 前期 items that are 3か年 totals whose yearly plan the ward splits evenly (前期施策12 prints
# 119,052 × 3 = 357,156): the converter derives FY2021/FY2022 targets as total / 3 (inferred).
EARLY_RATIO_ITEMS = {"E02.2"}  # "6割以上の省力化" is a yearly minimum ratio, not a total


def build_itabashi_early(src: Data) -> Data:
    depts = Departments(ITABASHI_PARENTS)
    bodies, posts = itabashi_governance(depts)
    paths = _early_paths(src)
    _, qualified = _late_paths(src)
    pe = src["prior_phase_evaluation"]
    per_measure = {m["no"]: m for m in pe["per_measure"]}

    nodes: list[Data] = []
    policy_nodes: dict[str, Data] = {}
    for code, title, _nums in EARLY_POLICIES:
        node = {
            "code": code,
            "kind": "group",
            "level": 0,
            "title": title,
            "children": [],
            "notes": [
                note(
                    "inferred",
                    "前期施策の基本方針への所属は資料編に印字されていない。第2章3の基本方針別評価件数"
                    "（令和4年度）と施策番号順から推定（抽出の parent_code_basis）。",
                    "children",
                )
            ],
        }
        policy_nodes[code] = node
        nodes.append(node)

    measure_nodes: dict[str, Data] = {}
    for m in src["measures"]:
        if m["phase"] != "前期" or m["level"] != "施策":
            continue
        no = int(m["code"])
        path = paths[m["uid"]]
        disposition = per_measure[no]["disposition"]
        node = {
            "code": m["code"],
            "normalized_code": f"施策{no}",
            "kind": "measure",
            "level": 1,
            "title": m["title"],
            "status": "完了" if disposition.startswith("完了") else None,
            "status_label": disposition,
            "notes": [
                note("remark", "前期施策の担当部署は本書（資料編）に記載がない。", "owners"),
                note("remark", f"後期実施計画への掲載：{disposition}"),
            ],
            "children": [],
        }
        if "推定" in disposition:
            node["notes"][-1]["kind"] = "inferred"
        measure_nodes[m["uid"]] = node
        policy_nodes[path.split("/")[0]]["children"].append(node)

    items: dict[str, Data] = {}
    for m in src["measures"]:
        if m["phase"] != "前期" or m["level"] == "施策":
            continue
        s = m["schedule"]
        dest = m.get("later_phase_destination")
        node = {
            "code": m["title"],
            "normalized_code": m["uid"].split(".")[-1],
            "kind": "item",
            "level": 2,
            "title": m["title"],
            "status": "完了" if dest == "完了" else None,
            "schedule": ([schedule_entry(2023, s["2023_目標"])] if s.get("2023_目標") else []),
            "notes": [
                note(
                    "remark",
                    f"3か年事業量（目標値）：{s.get('3か年事業量（目標値）')}。"
                    "令和3・4年度の年度計画は本書に印字なし（令和5年度目標のみ）。",
                    "schedule",
                ),
            ],
        }
        if dest:
            kind = "inferred" if "inferred" in (m.get("mapping_basis") or "") else "remark"
            text = f"後期実施計画掲載先：{dest}"
            if kind == "inferred":
                text += f"（{m['mapping_basis']}）"
            node["notes"].append(note(kind, text))
        items[m["uid"]] = node
        measure_nodes[m["parent_code"]]["children"].append(node)

    indicators = _early_indicators(src, paths)

    grades = []
    for no in sorted(per_measure):
        pm = per_measure[no]
        path = next(p for uid, p in paths.items() if p.endswith(f"/施策{no}") and "." not in uid)
        for fy in (2021, 2022):
            printed = pm[f"eval_{fy}"]
            grades.append(
                {"path": path, "fiscal_year": fy, "grade": GRADE_CODES[printed], "printed": printed}
            )
    summaries = [
        {
            "fiscal_year": 2021,
            "counts": {"achieved_plus": 5, "achieved": 19, "not_achieved": 1},
            "total": 25,
            "printed": "達成＋ 5施策／達成 19施策／未達成 1施策／計 25施策",
            "source": pe["fy2021"]["source"],
        },
        {
            "fiscal_year": 2022,
            "counts": {"achieved_plus": 3, "achieved": 21, "not_achieved": 1},
            "total": 25,
            "printed": "達成＋ 3施策（12%）／達成 21施策（84%）／未達成 1施策（4%）／計 25施策",
            "source": pe["fy2022"]["source"],
        },
    ]
    for (code, _title, _), row in zip(EARLY_POLICIES, pe["fy2022_by_policy"], strict=True):
        summaries.append(
            {
                "fiscal_year": 2022,
                "scope": code,
                "counts": {
                    "achieved_plus": row["達成＋"],
                    "achieved": row["達成"],
                    "not_achieved": row["未達成"],
                },
                "total": row["達成＋"] + row["達成"] + row["未達成"],
                "printed": f"{row['基本方針']}（達成＋：{row['達成＋']}施策、達成：{row['達成']}施策、"
                f"未達成：{row['未達成']}施策）",
                "source": "第2章3",
            }
        )

    plan = {
        "key": "dx2025-early",
        "title": "板橋区ICT推進・活用計画2025 前期実施計画",
        "kind": "実施計画",
        "period": {"start": 2021, "end": 2023},
        "phase": "前期",
        "predecessor": "ict2020-addendum",
        "parent_plan": "dx2025",
        "state": "superseded",
        "level_labels": ["基本方針", "施策", "事業量"],
        "source": "板橋区DX推進計画2025 後期実施計画 資料編「『ICT推進・活用計画2025』前期実施計画の"
        "進捗状況（令和5年8月1日時点）」 reference/sources/itabashi-dx-2025-late.txt",
        "notes": [
            note(
                "remark",
                "前期実施計画そのものの文書は参照資料にない。本ファイルは後期実施計画の資料編と第2章3に"
                "印字された前期の施策・事業量・実績・評価から構成した。",
            ),
            note(
                "inferred",
                "前計画（predecessor）を ICT推進・活用計画2020（追録版）とした。",
                "predecessor",
            ),
            *[
                note("remark", f"表面化した課題：{t}")
                for t in pe["issues_identified（前期実施計画進捗に伴い表面化した課題）"]
            ],
        ],
    }
    return {
        "format_version": 1,
        "tenant": ITABASHI,
        "grading_scale": ITABASHI_EARLY_SCALE,
        "departments": depts.data(),
        "bodies": bodies,
        "posts": posts,
        "plan": plan,
        "nodes": nodes,
        "indicators": indicators,
        "published_evaluations": {
            "as_of": "2023-08-01",
            "source": "資料編「前期実施計画の進捗状況（令和5年8月1日時点）」、第2章3",
            "grades": grades,
            "summaries": summaries,
            "notes": [note("remark", pe["consistency_check"])],
        },
    }


def _early_indicators(src: Data, paths: dict[str, str]) -> list[Data]:
    """One indicator per 前期 事業量項目 (53), numeric ones carrying the extraction's values."""
    by_item: dict[str, list[Data]] = {}
    for ind in src["indicators"]:
        if ind["phase"] == "前期":
            uid = re.search(r"\((E\d+\.\d+)\)", ind["measure_code"])
            assert uid
            by_item.setdefault(uid.group(1), []).append(ind)
    measures = {m["uid"]: m for m in src["measures"] if m["phase"] == "前期"}
    out = []
    for uid, m in measures.items():
        if m["level"] == "施策":
            continue
        parent = measures[m["parent_code"]]
        exts = by_item.get(uid, [])
        key = f"dx2025-early.{uid.lower().replace('.', '-')}"
        if len(exts) > 1:
            out.append(_early_subseries_indicator(key, uid, m, parent, exts, paths))
        else:
            out.append(_early_indicator(key, uid, m, parent, exts[0] if exts else None, paths))
    return out


def _text_target(
    fy: int, text: str, from_fy: int | None = None, printed: str | None = None
) -> Data:
    t: Data = {"fiscal_year": fy, "text": text}
    if from_fy is not None:
        t["from_fiscal_year"] = from_fy
    if printed and printed != text:
        t["printed"] = printed
    return t


def _early_indicator(
    key: str, uid: str, m: Data, parent: Data, ext: Data | None, paths: dict[str, str]
) -> Data:
    s = m["schedule"]
    total = s.get("3か年事業量（目標値）")
    notes: list[Data] = []
    targets: list[Data] = []
    actuals: list[Data] = []
    aggregation = "per_year"
    qualitative = ext is None
    if ext is not None:
        notes += remark_or_inferred(ext.get("notes"))
        if "cumulative" in ext["target_kind"]:
            aggregation = "cumulative"
        printed_years: set[int] = set()
        for t in ext["targets"]:
            if t.get("period_from"):
                entry: Data = {
                    "fiscal_year": t["fiscal_year"],
                    "from_fiscal_year": t["period_from"],
                }
            else:
                entry = {"fiscal_year": t["fiscal_year"]}
                printed_years.add(t["fiscal_year"])
            if uid in EARLY_RATIO_ITEMS and t.get("period_from"):
                entry.pop("from_fiscal_year")
                entry["fiscal_year"] = 2021
            if t["value"] is None:
                entry["text"] = t["printed"].replace("（令和5年度目標）", "")
            else:
                entry["comparator"], entry["value"] = "gte", t["value"]
            entry["printed"] = t["printed"]
            targets.append(entry)
        if uid in EARLY_RATIO_ITEMS:
            targets.insert(
                1,
                {
                    "fiscal_year": 2022,
                    "comparator": "gte",
                    "value": 60,
                    "printed": "6割以上の省力化",
                },
            )
            notes.append(
                note(
                    "inferred",
                    "3か年事業量「6割以上の省力化」は毎年度の下限と解釈し各年度の目標とした。",
                    "targets",
                )
            )
        # yearly plan derived from an evenly split 3-year total (as 前期施策12 prints it)
        period_total = next(
            (t for t in ext["targets"] if t.get("period_from") and t["value"] is not None), None
        )
        if (
            period_total is not None
            and aggregation == "cumulative"
            and uid not in EARLY_RATIO_ITEMS
            and not ({2021, 2022} & printed_years)
        ):
            share = period_total["value"] / 3
            share = int(share) if share == int(share) else round(share, 2)
            for fy in (2021, 2022):
                targets.append(
                    {
                        "fiscal_year": fy,
                        "comparator": "gte",
                        "value": share,
                        "notes": [
                            note(
                                "inferred",
                                f"年度計画は印字なし。3か年事業量 {period_total['printed']} を3等分して導出"
                                "（前期施策12 の 119,052枚×3＝357,156枚 と同じ均等割）。",
                            )
                        ],
                    }
                )
        for a in ext["actuals"]:
            fy = a["fiscal_year"]
            if fy is None:
                continue
            actual: Data = {"period": f"FY{fy}", "printed": a["printed"]}
            if a["value"] is None:
                actual["text"] = a["printed"]
            else:
                actual["value"] = a["value"]
                if "以上" in a["printed"]:
                    actual["comparator"] = "gte"
            actuals.append(actual)
        if uid == "E06.3":
            actuals.append(_e06_3_actual())
        unit = ext["unit"]
        title = ext["name"]
        source = f"抽出 {ext['uid']}（{uid}）"
    else:
        unit = None
        title = f"{parent['title']}：{m['title']}"
        source = f"抽出 {uid}"
        if total:
            targets.append(_text_target(2023, total, 2021))
        if s.get("2023_目標"):
            targets.append(_text_target(2023, s["2023_目標"]))
        for fy in (2021, 2022):
            text = s.get(f"{fy}_実績")
            if text:
                actuals.append({"period": f"FY{fy}", "text": text})
        notes.append(
            note("remark", "定性的な事業量（数値目標なし）。実績は印字された文言。", "targets")
        )
    notes += _early_actual_fixes(uid, actuals)
    targets.sort(key=lambda t: (t["fiscal_year"], t.get("from_fiscal_year") or 0))
    return {
        "key": key,
        "title": title,
        "nodes": [paths[uid]],
        "unit": unit,
        "aggregation": aggregation,
        "qualitative": qualitative,
        "targets": targets,
        "actuals": actuals,
        "source": source,
        "notes": notes,
    }


def _e06_3_actual() -> Data:
    return {
        "period": "FY2022",
        "value": 61,
        "text": "拡大",
        "printed": "拡大(61/80課)",
        "notes": [
            note(
                "uncertain",
                "実績「拡大(61/80課)」は抽出テキストでは1セルのみで、令和3年度・4年度のどちらの列か"
                "判別できない。前の列が空白で始まることから令和4年度として記録（抽出は両年度に同じ"
                "値を記載していた）。",
            )
        ],
    }


def _early_actual_fixes(uid: str, actuals: list[Data]) -> list[Data]:
    """Extraction errors in the 前期 actuals, fixed against the source text."""
    fixes: list[Data] = []
    if uid == "E11.2":
        # the source prints one cell "検証作業完了" for the item whose 3-year target is
        # "令和3年度中に完了"; the extraction copied it into both years
        actuals[:] = [a for a in actuals if a["period"] != "FY2022"]
        fixes.append(
            note(
                "corrected",
                "実績「検証作業完了」は原文では1セルのみ（令和3年度中に完了する項目）。抽出は令和3・4"
                "年度の両方に記載していたため令和3年度のみとした（列位置は不確実）。",
                "actuals",
            )
        )
    return fixes


def _early_subseries_indicator(
    key: str, uid: str, m: Data, parent: Data, exts: list[Data], paths: dict[str, str]
) -> Data:
    """前期施策23 SNSによる情報発信: one indicator, a sub-series per channel."""
    sub_series, targets, actuals = [], [], []
    notes: list[Data] = []
    for ext in exts:
        channel = ext["name"].split()[-1].replace("発信回数", "")
        sub = channel.lower()
        sub_series.append(
            {
                "key": sub,
                "title": channel,
                "unit": ext["unit"],
                "notes": remark_or_inferred(ext["notes"]),
            }
        )
        for t in ext["targets"]:
            targets.append(
                {
                    "fiscal_year": t["fiscal_year"],
                    "from_fiscal_year": t.get("period_from"),
                    "comparator": "gte",
                    "value": t["value"],
                    "sub_series": sub,
                    "printed": t["printed"],
                }
            )
        for a in ext["actuals"]:
            actuals.append(
                {
                    "period": f"FY{a['fiscal_year']}",
                    "value": a["value"],
                    "sub_series": sub,
                    "printed": a["printed"],
                }
            )
        notes.append(note("remark", f"抽出 {ext['uid']} を系列「{sub}」として統合。"))
    notes.append(
        note(
            "inferred",
            f"後期実施計画掲載先は印字なし。抽出の推定：{m.get('later_phase_destination')}",
        )
    )
    return {
        "key": key,
        "title": "熱帯環境植物館 SNSによる情報発信回数",
        "nodes": [paths[uid]],
        "unit": "回",
        "aggregation": "cumulative",
        "sub_series": sub_series,
        "targets": targets,
        "actuals": actuals,
        "source": f"抽出 {', '.join(e['uid'] for e in exts)}（{uid}）",
        "notes": notes,
    }


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

Builder = Callable[[Data], Data]

BUILDS: list[tuple[str, str, Builder]] = [
    ("itabashi-dx2025-late.yaml", "itabashi-dx-2025-late.json", build_itabashi_late),
    ("itabashi-dx2025-early.yaml", "itabashi-dx-2025-late.json", build_itabashi_early),
]

HEADER = (
    "# Generated by tools/build_datasets.py from reference/plans/{source}.\n"
    "# Do not edit by hand: change the converter and run it again (see datasets/README.md).\n"
)


def build(reference: Path) -> dict[str, str]:
    """File name -> YAML text for every dataset."""
    out: dict[str, str] = {}
    cache: dict[str, Data] = {}
    for filename, source, builder in BUILDS:
        if source not in cache:
            cache[source] = json.loads((reference / "plans" / source).read_text(encoding="utf-8"))
        data = clean(builder(cache[source]))
        try:
            plan_file = PlanFile.model_validate(data)
        except Exception as exc:  # pragma: no cover - a converter bug
            raise SystemExit(
                f"{filename}: the converter produced an invalid plan file:\n{exc}"
            ) from exc
        out[filename] = HEADER.format(source=source) + dump_plan_file(plan_file)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if files on disk differ")
    args = parser.parse_args(argv)
    if not (args.reference / "plans").is_dir():
        print(f"reference directory not found: {args.reference}", file=sys.stderr)
        return 2
    files = build(args.reference)
    if args.check:
        stale = [
            name
            for name, text in files.items()
            if not (args.out / name).is_file()
            or (args.out / name).read_text(encoding="utf-8") != text
        ]
        for name in stale:
            print(f"out of date: {args.out / name}", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
