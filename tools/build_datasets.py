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
    ("completed", ("完了", "達成済")),
    (
        "running",
        ("運用", "実施", "推進", "活用", "徹底", "更新", "公開", "開始", "対応", "周知", "開催"),
    ),
    ("planning", ("検討", "研究", "調査", "協議", "方針")),
]


def phase_of(label: str | None) -> str | None:
    """Normalise a printed schedule label; None when it names no phase."""
    if label is None:
        return None
    text = re.sub(r"\s+", "", label)
    if text in ("", "-", "－", "―", "—", "ー"):
        return "none"
    core = re.sub(r"[（(][^）)]*[）)]$", "", text)  # 拡大検討(練馬以外の区民事務所)
    if text.startswith("運用"):
        return "running"
    if re.search(r"に基づく|を踏まえ", text):
        return "running"  # 検討に基づく対応, 都の動向を踏まえ対応: follow-up work
    single = "・" not in text[1:] and " " not in label.strip()  # one item, not a list of tasks
    if (single and core.endswith("検討")) or (
        re.search(r"検討|研究|調査|協議", text)
        and not re.search(r"構築|実施|運用|対応|導入|拡大|整備", text)
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
            "description": "計画の事業量を上回る実績となっている。ただし、数値による定量的な計画事"
            "業量が"
            "設定されており、設定されている計画事業量の全てが「達成」と評価できる状況にあることと"
            "する。",
        },
        {
            "code": "achieved",
            "label": "達成",
            "description": "２か年事業量の全部若しくは大部分を達成している、"
            "又は施策としては達成している。",
        },
        {
            "code": "not_achieved",
            "label": "未達成",
            "failing": True,
            "description": "施策の遅延等により、２か年の事業量の全部若しくは大部分が達成されていな"
            "い、"
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
            "description": "令和X年度計画の事業量の全部若しくは大部分を達成している、又は施策として"
            "は"
            "完了している。",
        },
        {
            "code": "not_achieved",
            "label": "未達成",
            "failing": True,
            "description": "施策の遅延等により、令和X年度計画の事業量の全部若しくは大部分が達成され"
            "て"
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
                # a 【定量事業量】 cell prints the target, its 区分 (拡大, 実施...) names the phase
                schedule_entry(int(fy), label, None) | {"label": text}
                if m.get("quantitative_tag") and phase_of(label)
                else schedule_entry(int(fy), text, label)
                for fy, text in sorted(m["schedule"].items())
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
                "parent_plan「dx2025」は基本計画を指す（本データセットに基本計画単独のファイルはな"
                "い）。",
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
                    "前期施策の基本方針への所属は資料編に印字されていない。第2章3の基本方針別評価件"
                    "数"
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
                "printed": f"{row['基本方針']}（達成＋：{row['達成＋']}施策、達成：{row['達成']}施"
                "策、"
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
        "source": "板橋区DX推進計画2025 後期実施計画 資料編「『ICT推進・活用計画2025』前期実施計画"
        "の"
        "進捗状況（令和5年8月1日時点）」 reference/sources/itabashi-dx-2025-late.txt",
        "notes": [
            note(
                "remark",
                "前期実施計画そのものの文書は参照資料にない。本ファイルは後期実施計画の資料編と第2"
                "章3に"
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
        # No yearly plan is derived from a 3-year total: the plan prints none for 令和3・4年度,
        # and grades use only the bars the plan prints (docs/plans-service.md).
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
                "実績「検証作業完了」は原文では1セルのみ（令和3年度中に完了する項目）。抽出は令和3"
                "・4"
                "年度の両方に記載していたため令和3年度のみとした（列位置は不確実）。",
                "actuals",
            )
        )
    if uid == "E10.1":
        # a numeric workload (実証実験等を１件以上実施) whose actuals are printed as words; the
        # 令和5年度 column says 「3か年事業量を達成済」, so the 令和3年度 「検討／実施」 is the one
        # 実証実験 done. A numeric indicator takes no text actual: 実施 = 1件.
        for a in actuals:
            a.pop("text", None)
            a["value"] = 1
        fixes.append(
            note(
                "corrected",
                "実績は原文では文言（令和3年度「検討／実施」、令和4年度「実施」）のみ。令和5年度欄の"
                "「3か年事業量を達成済」から、実証実験1件の実施と読み、各年度の実績を1件とした。",
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
# 板橋区 ICT推進・活用計画2020 追録版 (FY2018-2020)
# ---------------------------------------------------------------------------------------------

ADDENDUM_STATUS = {
    "官デ変": "変更",
    "官デ新": "新規",
    "継続": "継続",
    "変更": "変更",
    "完了": "完了",
    "新規": "新規",
}
ADDENDUM_KEYS = {
    "美術館": "museum",
    "郷土資料館": "local-history",
    "郷土資料館(注記)": "local-history-count",
}
ADDENDUM_YEARS = (("H30", 2018), ("H31", 2019), ("H32", 2020))


def _roman_ascii(text: str) -> str:
    for full, ascii_ in (("Ⅳ", "IV"), ("Ⅲ", "III"), ("Ⅱ", "II"), ("Ⅰ", "I")):
        text = text.replace(full, ascii_)
    return text


def build_itabashi_addendum(src: Data) -> Data:
    depts = Departments()
    h = src["hierarchy"]
    goal_path: dict[str | None, str] = {}
    nodes: list[Data] = []
    goal_nodes: dict[str, Data] = {}
    for g in h["goals"]:
        if g["id"] is None:
            code, norm = "進捗", "進捗管理"
            notes = [note("remark", g["note"])]
        else:
            code, norm, notes = g["id"], f"基本目標{g['id']}", []
        node = {
            "code": code,
            "normalized_code": norm,
            "kind": "group",
            "level": 0,
            "title": g["title"],
            "children": [],
            "notes": notes,
        }
        goal_path[g["id"] or "進捗"] = norm
        goal_nodes[norm] = node
        nodes.append(node)

    tags = []
    for st in h["strategies"]:
        tag: Data = {"code": f"重点戦略{st['id']}", "label": f"重点戦略{st['id']}"}
        if st.get("title"):
            tag["label"] += f" {st['title']}"
            if st.get("former_title"):
                tag["description"] = f"旧名称：{st['former_title']}（追録版で改称）"
        else:
            tag["notes"] = [note("inferred", st["note"])]
        tags.append(tag)

    measure_path: dict[str, str] = {}
    for m in src["measures"]:
        measure_path[m["code"]] = f"{goal_path[m['parent']['goal']]}/No.{m['code']}"

    for m in src["measures"]:
        owners, others = depts.owners(m["owner_departments"])
        if m["owner_open_ended"]:
            others = "ほか"
        notes: list[Data] = []
        for t in m.get("former_titles", []):
            notes.append(remark_or_inferred(f"旧名称：{t}", "title")[0])
        for c in m.get("change_points", []):
            notes.append(note("remark", f"{c['type']}：{c['detail']}"))
        for k in m.get("kande_policy", []):
            notes.append(note("remark", f"官民データ活用推進基本法の基本的施策：{k}"))
        for ms in m.get("milestones", []):
            notes.append(note("remark", f"{ms['event']}（{ms['date']}）"))
        if m.get("completion"):
            notes.append(note("remark", m["completion"]["reason"], "status"))
        if m.get("linked_plan"):
            lp = m["linked_plan"]
            notes.append(note("remark", f"関連計画：{lp['name']}（{lp['owner']}）。{lp['note']}"))
        if m.get("title_is_provisional"):
            notes.append(note("remark", "施策名は仮称。", "title"))
        if m.get("section3_category"):
            notes.append(note("remark", f"見直し区分：{m['section3_category']}", "status"))
        schedule, tracks = _addendum_schedule(m, notes)
        lineage = []
        if m.get("absorbs"):
            for a in m["absorbs"]:
                lineage.append(
                    {
                        "kind": "merged",
                        "from_path": measure_path[a["from_measure"]],
                        "note": f"{a['what']}を統合",
                    }
                )
        strategy = m["parent"]["strategy"]
        node = {
            "code": m["code_printed"],
            "normalized_code": f"No.{m['code']}",
            "kind": "measure",
            "level": 1,
            "title": m["title"],
            "title_variants": [
                v
                for v in (m.get("title_variants") or []) + [m.get("title_as_printed_in_detail")]
                if v and v != m["title"]
            ],
            "description": m["description"],
            "owners": owners,
            "others_text": others,
            "primary_goal": goal_path[m["parent"]["goal"]],
            "related_goals": [goal_path[g["goal"]] for g in m["related_goals"]],
            "tags": [f"重点戦略{_roman_ascii(strategy)}"] if strategy else [],
            "schedule": schedule,
            "tracks": tracks,
            "status": ADDENDUM_STATUS[m["status_label"]],
            "status_label": m["status_label"] if m["status_label"].startswith("官デ") else None,
            "frameworks": [_kande_framework(k, h) for k in m.get("kande_policy", [])],
            "lineage": lineage,
            "source": m.get("detail_section"),
            "notes": notes,
        }
        if m["code"] == "8":
            node["notes"].append(
                note(
                    "source_typo",
                    "施策名「マイナポータルを活用による…」は原文どおり（一覧では「…の活用による…」"
                    "）。",
                    "title",
                )
            )
        goal_nodes[goal_path[m["parent"]["goal"]]]["children"].append(node)

    others_node: Data = {
        "code": "4",
        "normalized_code": "その他",
        "kind": "group",
        "level": 0,
        "title": "その他の取り組み",
        "children": [],
    }
    for o in src["other_initiatives"]:
        code = re.search(r"\((\d)\)", o["code"])
        assert code
        title = o["title"]
        fixes = []
        if title.startswith("その他の取り組み("):
            # the source prints "(3) その他の取り組み"; the analyst added the subject in brackets
            fixes.append(
                note(
                    "corrected",
                    "原文の見出しは「(3) その他の取り組み」。"
                    f"抽出は「{title}」と内容を補っていたため"
                    "見出しどおりとし、内容は description に残す。",
                    "title",
                )
            )
            title = "その他の取り組み"
        child: Data = {
            "code": o["code_printed"],
            "normalized_code": f"({code.group(1)})",
            "kind": "measure",
            "level": 1,
            "title": title,
            "description": o["description"],
            "status": "完了" if o["state"] == "実施済み" else "継続",
            "status_label": o["state"],
            "notes": [note("remark", "所管課の記載なし。", "owners"), *fixes],
        }
        for k in ("deadline", "effective"):
            if o.get(k):
                child["notes"].append(note("remark", f"{k}: {o[k]['text']}"))
        others_node["children"].append(child)
    nodes.append(others_node)
    measure_path["その他(2)"] = "その他/(2)"

    indicators = [_addendum_indicator(i, measure_path) for i in src["indicators"]]
    doc = src["document"]
    gov = src["governance"]
    bodies = [
        {
            "code": "ICT推進・活用本部",
            "name": "ICT推進・活用本部",
            "kind": "本部",
            "role": "事業実施結果を毎年度評価し、計画に反映する（推進施策No.34）。",
        },
        {
            "code": "個人情報保護審議会",
            "name": "情報公開及び個人情報保護審議会",
            "kind": "審議会",
            "role": "個人情報の適正な利用に関する審議（No.16）。",
        },
        {
            "code": "外部評価委員会",
            "name": "外部評価委員会",
            "kind": "委員会",
            "role": "個人情報保護制度の点検（No.16）。",
        },
        {
            "code": "付議事項調査委員会",
            "name": "個人情報保護審議会付議事項調査委員会",
            "kind": "委員会",
            "parent": "個人情報保護審議会",
            "former_names": ["電子計算組織運営委員会"],
            "renamed_on": "2017-04",
        },
        {
            "code": "収入確保対策検討会",
            "name": "収入確保対策検討会",
            "kind": "会議",
            "role": "その他の公金収納方法を費用対効果を意識して検討（No.12）。",
        },
    ]
    it = depts.add("IT 推進課")
    posts = [
        {
            "code": "事務局",
            "name": "計画の所管課（IT推進課）",
            "department": it,
            "notes": [note("inferred", "計画の所管・事務局的役割（No.34の所管課）からの推定。")],
        }
    ]
    plan = {
        "key": "ict2020-addendum",
        "title": doc["plan_name"],
        "kind": "追録版",
        "period": {"start": "平成30年度", "end": "平成32年度"},
        "edition": "追録版",
        "predecessor": "ict2020",
        "state": "superseded",
        "level_labels": ["基本目標", "推進施策"],
        "source": f"{doc['plan_name']} reference/sources/itabashi-ict-2020-addendum.txt",
        "description": doc["kind_detail"],
        "tags": tags,
        "milestones": _addendum_milestones(src, measure_path),
        "notes": [
            note("remark", doc["scope_of_revision"]),
            note("inferred", doc["period"]["note"], "predecessor"),
            note("inferred", doc["published_note"], "published_on"),
            note("remark", f"記載のない体制：{'、'.join(gov['not_mentioned'])}"),
            note(
                "remark",
                "評語（達成＋等）による施策評価は本書に記載がないため grading_scale はない。"
                "ICT推進・活用本部が毎年度事業実施結果を評価する（No.34）。",
            ),
            *[note("uncertain", t) for t in src["data_quality_notes"]],
        ],
    }
    return {
        "format_version": 1,
        "tenant": ITABASHI,
        "departments": depts.data(),
        "bodies": bodies,
        "posts": posts,
        "plan": plan,
        "nodes": nodes,
        "indicators": indicators,
    }


def _kande_framework(printed: str, h: Data) -> Data:
    """The 官民データ活用推進基本法 基本的施策 a measure's 施策の方向性 names, as the law's item
    printed in 第1章 (matched by its letter (ア)–(キ)); the measure's own wording is the label."""
    items = h["kande_law_frameworks"]["基本的施策"]
    letter = re.match(r"^(\([ア-キ]\))", printed)
    item = next((i for i in items if letter and i.startswith(letter.group(1))), None)
    return {
        "framework": "kanmin_data",
        "item": item or "基本的施策の考え方",
        "label": printed,
    }


def _addendum_milestones(src: Data, measure_path: dict[str, str]) -> list[Data]:
    """The dated events the 施策詳細 print (開始予定, 開館予定, 切り替え) as plan milestones."""
    out: list[Data] = []
    for m in src["measures"]:
        for i, ms in enumerate(m.get("milestones") or [], start=1):
            entry: Data = {
                "key": f"no{m['code']}-{i}",
                "title": ms["event"],
                "kind": "other",
                "node": measure_path[m["code"]],
                "source": f"No.{m['code']} 施策詳細（{ms['date']}）",
            }
            if ms.get("date_iso"):
                entry["due_on"] = ms["date_iso"]
            else:
                entry["fiscal_year"] = ms["fiscal_year_ad"]
            out.append(entry)
    return out


def _addendum_schedule(m: Data, notes: list[Data]) -> tuple[list[Data], list[Data]]:
    rows = m["schedule"]
    named = len(rows) > 1
    schedule, tracks = [], []
    for i, row in enumerate(rows, start=1):
        track = row.get("track") or (f"区分{i}" if named else None)
        if named:
            tracks.append({"name": track})
            if not row.get("track"):
                notes.append(
                    note("inferred", f"スケジュール区分名は印字なし（{track}と付番）。", "tracks")
                )
        previous: str | None = None
        for col, fy in ADDENDUM_YEARS:
            label = row.get(col)
            if label is None:
                continue
            label = re.sub(r"(?<=\S) (?=\S)", "", label) if re.fullmatch(r"\S \S", label) else label
            bare = label.replace("→", "").strip()
            phase = (phase_of(bare) if bare else None) or phase_of(previous) or "running"
            entry: Data = {"fiscal_year": fy, "label": label, "phase": phase}
            if track:
                entry["track"] = track
            schedule.append(entry)
            previous = label.replace("→", "") or previous
        if row.get("note"):
            notes.append(note("inferred", row["note"], "schedule"))
    if any(r.get(c) is None for r in rows for c, _ in ADDENDUM_YEARS[1:]):
        notes.append(
            note(
                "uncertain",
                "年度別スケジュールの結合セル（→）の範囲は抽出テキストから判別できない年度がある。"
                "印字された年度のみ記録。",
                "schedule",
            )
        )
    return schedule, tracks


def _addendum_indicator(ind: Data, measure_path: dict[str, str]) -> Data:
    local = ind["id"]
    if local.startswith("その他"):
        key = "other-2"
    else:
        mno, _, rest = local.partition("-")
        key = mno.lower() + (f"-{ADDENDUM_KEYS.get(rest, rest)}" if rest else "")
    notes: list[Data] = [*remark_or_inferred(ind.get("notes"))]
    for hst in ind.get("history", []):
        text = hst["change"] + (f"（旧：{hst['from']}）" if hst.get("from") else "")
        if hst.get("note"):
            text += f" {hst['note']}"
        notes.append(note("remark", text))
    polarity = "higher_is_better"
    comparator = "gte"
    if ind.get("lower_is_better"):
        polarity, comparator = "zero_tolerance", "lte"
    elif ind["direction"] == "maintain":
        polarity = "keep"
    targets, revisions = [], []
    current = [t for t in ind["targets"] if not (t.get("status") or "").startswith("superseded")]
    for t in current:
        target: Data = {"fiscal_year": t["fiscal_year_ad"], "printed": t["value_text"]}
        if t["value"] is None:
            target["text"] = t["value_text"]
        else:
            target["comparator"], target["value"] = comparator, t["value"]
        if t.get("status") == "recurring annual target":
            target["notes"] = [note("inferred", "注記「毎年度1,500件を目標」から抽出。")]
        targets.append(target)
    if any(
        not t.get("fiscal_year_explicit")
        for t in current
        if t.get("status") != "recurring annual target"
    ):
        notes.append(
            note(
                "inferred",
                "目標年度の印字なし。計画最終年度（平成32年度）の目標と解釈。",
                "targets",
            )
        )
    for t in ind["targets"]:
        if (t.get("status") or "").startswith("superseded"):
            new = next(c for c in current if c["fiscal_year_ad"] == t["fiscal_year_ad"])
            revisions.append(
                {
                    "fiscal_year": t["fiscal_year_ad"],
                    "old": {"comparator": comparator, "value": t["value"]},
                    "new": {"comparator": comparator, "value": new["value"]},
                    "reason": "追録版で上方修正（当初計画の目標）",
                    "edition": "追録版",
                }
            )
    if not ind["targets"]:
        notes.append(
            note(
                "uncertain",
                "目標値が抽出テキストにない（表の列崩れによる欠落の可能性）。",
                "targets",
            )
        )
    baseline = None
    b = ind.get("baseline")
    if b:
        baseline = {
            "value": b.get("value"),
            "fiscal_year": b.get("fiscal_year_ad"),
            "text": b.get("value_text"),
        }
    actuals = []
    for a in ind["actuals"]:
        if "累計" in (a.get("source") or "") and not ind["cumulative"]:
            notes.append(
                note(
                    "corrected",
                    f"抽出は年度別件数の系列に累計値（{a['value_text']}、{a['fiscal_year']}時点）を"
                    "同じ年度の実績として含めていた。年度値と混在するため実績から外し、ここに残す。"
                    "",
                    "actuals",
                )
            )
            continue
        actual: Data = {
            "period": f"FY{a['fiscal_year_ad'] or 2018}",
            "printed": a.get("value_text"),
        }
        if a["fiscal_year_ad"] is None:
            actual["notes"] = [
                note("inferred", "年度の明記なし。追録版作成時点（平成30年度）として記録。")
            ]
        if a.get("value") is None:
            actual["text"] = a.get("value_text")
        else:
            actual["value"] = a["value"]
        actual["source"] = a.get("source")
        actuals.append(actual)
    if ind.get("derived_from_note"):
        notes.append(
            note("inferred", "施策No.2の注記から抽出した補助的な指標（正式な指標ではない）。")
        )
    if ind.get("informal"):
        notes.append(
            note(
                "inferred",
                "その他の取り組み(2)の本文から抽出した補助的な指標（正式な指標ではない）。",
            )
        )
    if "设计" in ind["name"]:
        notes.append(note("source_typo", "原文の誤字「システム的设计」（設計）を保持。", "title"))
    kind = ind["kind"]
    return {
        "key": f"ict2020-addendum.{key}",
        "title": ind["name"],
        "nodes": [measure_path[ind["measure_code"]]],
        "unit": ind["unit"],
        "polarity": polarity,
        "aggregation": "cumulative"
        if ind["cumulative"]
        else ("snapshot" if kind == "percent" else "per_year"),
        "qualitative": kind in ("qualitative", "milestone"),
        "milestone": kind == "milestone",
        "baseline": baseline,
        "targets": targets,
        "target_revisions": revisions,
        "actuals": actuals,
        "description": f"算式：{ind['formula']}" if ind.get("formula") else None,
        "source": f"抽出 {ind['id']}",
        "notes": notes,
    }


# ---------------------------------------------------------------------------------------------
# 練馬区 情報化基本計画 (FY2020-2024) and its previous plan (FY2016-2019)
# ---------------------------------------------------------------------------------------------

NERIMA = {"slug": "nerima", "name": "練馬区", "name_en": "Nerima City"}
CURRENT = "練馬区情報化基本計画(令和"
NERIMA_SCALE: Data = {
    "rule": "nerima-ab",
    "description": "前計画（平成28〜31年度）の取組結果の凡例。計画期間終了時に取組ごとに評価。",
    "grades": [
        {"code": "A", "label": "達成"},
        {"code": "B", "label": "一部達成"},
        {
            "code": "C",
            "label": "未達成",
            "description": "取組を達成していない（何も達成していない）。凡例にない区分。",
            "failing": True,
        },
    ],
    "notes": [
        note("remark", "凡例は A・B のみ（未達成等の区分は文書中に現れない）。"),
        note(
            "inferred",
            "何も達成していない取組を「B 一部達成」と呼ばないよう、A 達成・B 一部達成に続く"
            "区分 C 未達成（不合格として通知）を加えた。印字された評価は A・B のみ。",
            "grades",
        ),
    ],
}


def _nerima_governance(depts: Departments) -> tuple[list[Data], list[Data]]:
    jo = depts.add("情報政策課")
    bodies = [
        {
            "code": "IT推進本部",
            "name": "IT推進本部",
            "kind": "本部",
            "chair": "企画部を担任する副区長",
            "secretariat": jo,
            "members_text": "副本部長：担任副区長以外の副区長／本部員：全部長",
            "role": "進捗状況の報告を受ける。",
        },
        {
            "code": "情報化運営委員会",
            "name": "情報化運営委員会",
            "kind": "委員会",
            "chair": "企画部長",
            "members_text": "副委員長：情報政策課長／委員：部庶務担当課長等",
            "role": "進捗状況の報告を受ける。",
        },
        {
            "code": "情報セキュリティ委員会",
            "name": "情報セキュリティ委員会",
            "kind": "委員会",
            "chair": "企画部長",
            "members_text": "副委員長：情報政策課長／委員：関係課長",
        },
        {
            "code": "検討部会",
            "name": "検討部会",
            "kind": "部会",
            "parent": "IT推進本部",
            "role": "必要に応じてIT推進本部の下に設置。",
        },
        {
            "code": "ICT利活用ワーキンググループ",
            "name": "ICT利活用ワーキンググループ",
            "kind": "会議",
            "role": "平成29年度設置。庁内募集の職員で構成し、ICT利活用を企画・提案。",
        },
        {
            "code": "練馬区CSIRT",
            "name": "練馬区CSIRT",
            "kind": "その他",
            "role": "平成29年4月設置。",
        },
    ]
    posts = [
        {
            "code": "CIO",
            "name": "最高情報化管理責任者",
            "held_by": "企画部を担任する副区長",
            "role": "IT推進本部長を兼ねる。",
        },
        {"code": "CISO", "name": "最高情報セキュリティ責任者", "held_by": "企画部を担任する副区長"},
        {
            "code": "CIO補佐官",
            "name": "総合情報化顧問（CIO補佐官）",
            "role": "CIOを主に技術面から補佐し、区の情報化全般に専門的見地から助言・指導する。",
        },
        {"code": "統括情報化管理責任者", "name": "統括情報化管理責任者", "held_by": "企画部長"},
        {
            "code": "事務局",
            "name": "事務局（情報政策課）",
            "department": jo,
            "role": "進捗報告書の提出先、進捗確認・検証、推進計画書の修正、各課支援。",
        },
    ]
    return bodies, posts


def _nerima_parents(src: Data) -> dict[str, str]:
    return {clean_name(k): v for k, v in src["governance"]["department_to_bu_stated"].items()}


def _wareki_period(text: str | None) -> str | None:
    from suishin.contracts.calendar import parse_period

    if not text:
        return None
    found = re.findall(r"(平成|令和)(元|\d+)年(\d+)月", text)
    if not found:
        return None
    era, year, month = found[-1]
    return parse_period(f"{era}{year}年{month}月")


def _nerima_actual(a: Data) -> tuple[Data | None, list[Data]]:
    notes: list[Data] = []
    fy = a.get("fy_western")
    as_of = a.get("as_of") or a.get("period_or_as_of")
    if fy is not None and as_of and "4月1日" in as_of:
        period = f"{fy}-04-01"
    elif as_of and _wareki_period(as_of):
        period = _wareki_period(as_of)
    elif fy is not None:
        period = f"FY{fy}"
    else:
        return None, [
            note("remark", f"時点が暦年のみ・不明の値：{a.get('as_printed') or a.get('value')}")
        ]
    out: Data = {"period": period, "value": a.get("value"), "printed": a.get("as_printed")}
    if a.get("comparator") in (">", ">="):
        out["comparator"] = "gte"
    if a.get("period_or_as_of") and "~" in a["period_or_as_of"]:
        out["notes"] = [note("remark", f"期間累計値（{a['period_or_as_of']}）。")]
    return out, notes


def _nerima_indicator(ind: Data, key: str, nodes: list[str], plan_period: tuple[int, int]) -> Data:
    notes: list[Data] = [*remark_or_inferred(ind.get("notes"))]
    notes.append(note("remark", f"種別：{ind['indicator_type']}（{ind['source_section']}）"))
    if ind.get("achievement_as_printed"):
        notes.append(note("remark", f"達成状況：{ind['achievement_as_printed']}"))
    polarity = "higher_is_better"
    if ind.get("direction") == "decrease":
        polarity = "lower_is_better"
    elif ind.get("direction") == "maintain":
        polarity = "keep"
    if "削減率" in (ind["unit"] or ""):
        # the extraction's direction "decrease" is about the cost; the indicator is the rate
        polarity = "higher_is_better"
        notes.append(
            note(
                "corrected",
                "抽出の direction は経費の減少（decrease）だが、指標は削減率なので高いほど良い。",
                "polarity",
            )
        )
    baseline = None
    b = ind.get("baseline")
    if b:
        baseline = {
            "value": b.get("value") if isinstance(b.get("value"), int | float) else None,
            "fiscal_year": b.get("fy_western"),
            "as_of": _wareki_period(b.get("as_of")),
            "text": b.get("as_printed"),
        }
        if b.get("unit") and b["unit"] != ind["unit"]:
            baseline["value"] = None
            notes.append(
                note(
                    "corrected",
                    f"抽出は基準値を{b['unit']}（{b['value']:,}）で記録していたが、指標の単位は"
                    f"{ind['unit']}。基準値は文言のみ残す（基準年度の削減率は0%）。",
                    "baseline",
                )
            )
    targets = []
    for t in ind["targets"]:
        fy = t.get("fy_western")
        if fy is None or not plan_period[0] <= fy <= plan_period[1]:
            notes.append(
                note("remark", f"計画期間内の年度を持たない目標：{t['as_printed']}", "targets")
            )
            continue
        target: Data = {"fiscal_year": fy, "printed": t["as_printed"]}
        if t.get("value") is None:
            target["text"] = t["as_printed"]
        else:
            target["comparator"] = "lte" if t.get("comparator") == "<=" else "gte"
            target["value"] = t["value"]
            if t.get("unit") == "円" and "削減率" in ind["unit"]:
                target["comparator"], target["value"] = "gte", 0
                notes.append(
                    note(
                        "corrected",
                        "「現状値以下（平成30年度決算）」を抽出は金額（円）で記録していたが、指標・"
                        "実績は"
                        "削減率（%）。削減率 0% 以上として記録。",
                        "targets",
                    )
                )
        targets.append(target)
    actuals = []
    for a in ind["actuals"]:
        actual, extra = _nerima_actual(a)
        notes += extra
        if actual is not None:
            actuals.append(actual)
    granularity = "fiscal_year"
    if actuals and all(not a["period"].startswith("FY") for a in actuals):
        granularity = "as_of"
    return {
        "key": key,
        "title": ind["name"],
        "nodes": nodes,
        "unit": ind["unit"],
        "polarity": polarity,
        "aggregation": "snapshot" if granularity == "as_of" else "per_year",
        "granularity": granularity,
        "qualitative": not targets and not actuals and baseline is None,
        "baseline": baseline,
        "targets": targets,
        "actuals": actuals,
        "source": f"抽出 {ind['id']}",
        "notes": notes,
    }


def _nerima_previous_paths(src: Data) -> dict[str, str]:
    out = {}
    for m in src["measures"]:
        if m["plan"].startswith(CURRENT):
            continue
        group = re.search(r"\((\d)\)", m["parent_code"])
        assert group
        out[m["uid"]] = f"{m['goal']}/({group.group(1)})/{m['code']}"
    return out


def build_nerima_current(src: Data) -> Data:
    depts = Departments(_nerima_parents(src))
    bodies, posts = _nerima_governance(depts)
    prev_paths = _nerima_previous_paths(src)
    tree = next(h for h in src["hierarchy"] if h["level"] == "tree")
    goals = next(h for h in src["hierarchy"] if h["level"] == 2)
    goal_desc = {g["code"]: g.get("description") for g in goals["items"]}
    measures = {m["uid"]: m for m in src["measures"] if m["plan"].startswith(CURRENT)}
    paths: dict[str, str] = {}

    def measure_node(m: Data, level: int, path: str) -> Data:
        paths[m["uid"]] = path
        owners, others = depts.owners(m["owner_department"])
        notes: list[Data] = [*remark_or_inferred(m.get("notes"))]
        state = m.get("state_at_plan_start_inferred") or ""
        status = (
            "新規"
            if state.startswith("新規")
            else ("継続" if state.startswith(("継続", "既存")) else None)
        )
        notes.append(note("inferred", f"計画開始時点の状態（抽出の推定）：{state}", "status"))
        for ms in m.get("milestones_in_text", []):
            notes.append(note("remark", ms))
        tracks, schedule = [], []
        named = [t for t in m["schedule_tracks"] if t.get("track")]
        for t in m["schedule_tracks"]:
            name = t.get("track")
            if named:
                t_owners, t_others = depts.owners(t.get("owner_departments") or [])
                tracks.append({"name": name, "owners": t_owners, "others_text": t_others})
            for col, label in sorted(t["schedule"].items(), key=lambda kv: int(kv[0][1:])):
                fy = 2018 + int(col[1:])
                schedule.append(schedule_entry(fy, label, track=name if named else None))
        lineage = []
        for uid in m.get("predecessor_in_previous_plan_inferred", []):
            lineage.append(
                {
                    "kind": "carried_over",
                    "from_plan": "ict2016",
                    "from_path": prev_paths[uid],
                    "note": "前計画の取組からの継承（抽出の推定、inferred）。",
                }
            )
        return {
            "code": m["code"],
            "kind": "measure",
            "level": level,
            "title": m["title"],
            "description": m["description"],
            "owners": owners,
            "others_text": others,
            "schedule": schedule,
            "tracks": tracks,
            "status": status,
            "lineage": lineage,
            "notes": notes,
        }

    nodes = []
    for goal in tree["items"]:
        gnode: Data = {
            "code": goal["code"],
            "kind": "group",
            "level": 0,
            "title": goal["title"],
            "description": goal_desc.get(goal["code"]),
            "children": [],
        }
        for mid in goal["children"]:
            mpath = f"{goal['code']}/{mid['code']}"
            if mid["is_leaf"]:
                gnode["children"].append(measure_node(measures[mid["code"]], 1, mpath))
                continue
            mnode: Data = {
                "code": mid["code"],
                "kind": "group",
                "level": 1,
                "title": mid["title"],
                "children": [
                    measure_node(measures[leaf["uid"]], 2, f"{mpath}/{leaf['code']}")
                    for leaf in mid["children"]
                ],
            }
            gnode["children"].append(mnode)
        nodes.append(gnode)

    issue_goal = {
        i["code"]: i["maps_to_inferred"]
        for h in src["hierarchy"]
        if h["level"] == 1.6
        for i in h["items"]
    }
    indicators = []
    milestones: list[Data] = []
    for ind in src["indicators"]:
        if ind["plan"] is not None and not ind["plan"].startswith(CURRENT):
            continue
        if ind["id"] in ("X1", "X2") and ind["measure_code"]:
            # a deadline the state / Tokyo prints, past the plan period (calendar 2025)
            target = next(t for t in ind["targets"] if t.get("calendar_year"))
            milestones.append(
                {
                    "key": f"deadline-{ind['id'].lower()}",
                    "title": f"{ind['name']}：{target['as_printed']}",
                    "kind": "national_deadline" if "国" in ind["indicator_type"] else "other",
                    "due_on": f"{target['calendar_year']}-12",
                    "node": paths[ind["measure_code"]],
                    "source": ind.get("source_section"),
                    "notes": [
                        note(
                            "inferred",
                            f"「{target['as_printed']}」（暦年）を{target['calendar_year']}年12月末"
                            "の期日とした。",
                            "due_on",
                        )
                    ],
                }
            )
        notes_extra: list[Data] = []
        if ind["measure_code"]:
            linked = [paths[ind["measure_code"]]]
        elif ind["id"] in ("C1", "C2"):
            linked = [issue_goal["課題1"]]
            notes_extra.append(
                note(
                    "inferred",
                    "課題1（窓口サービスの利便性の向上）の根拠値。課題1→目標1の対応は番号順・内容か"
                    "らの推定。",
                    "nodes",
                )
            )
        elif ind["id"].startswith("S"):
            linked = ["目標4"]
            notes_extra.append(
                note(
                    "inferred",
                    "参考資料1「区の情報システムの現状」の時系列。目標4（基盤整備）に紐付けたのは推"
                    "定。",
                    "nodes",
                )
            )
        else:
            continue  # pure context statistics (X3), see datasets/README.md
        item = _nerima_indicator(ind, f"ict2020.{ind['id'].lower()}", linked, (2020, 2024))
        item["notes"] += notes_extra
        if ind["id"].startswith("X"):
            item["qualitative"] = True
            item["notes"].append(
                note(
                    "remark",
                    "区の指標ではなく国・都の目標（背景情報）。目標は計画"
                    "期間外の暦年のため targets に入れていない。",
                )
            )
        indicators.append(item)

    doc = src["document"]
    plan = {
        "key": "ict2020",
        "title": doc["plan_name"],
        "kind": "基本計画",
        "period": {"start": doc["period"]["start_fy"], "end": doc["period"]["end_fy"]},
        "predecessor": "ict2016",
        "state": "published",
        "level_labels": ["目標", "取組項目", "取組"],
        "published_on": doc["published"]["date"],
        "milestones": milestones,
        "source": f"{doc['plan_name']}（{doc['published']['as_printed']}） "
        "reference/sources/nerima-ict-2020.txt",
        "description": f"基本理念：{doc['basic_philosophy']}。{doc['kind']}",
        "notes": [
            note("remark", doc["revision_policy"]),
            note("remark", src["governance"]["progress_management"]["note"]),
            note(
                "remark",
                "取組ごとのステータス表示や評語は現計画にない（進捗は年次の進捗報告書で管理）。"
                "前計画の A/B 評価は ict2016 のファイルにある。",
            ),
        ],
    }
    return {
        "format_version": 1,
        "tenant": NERIMA,
        "grading_scale": NERIMA_SCALE,
        "departments": depts.data(),
        "bodies": bodies,
        "posts": posts,
        "plan": plan,
        "nodes": nodes,
        "indicators": indicators,
    }


def build_nerima_previous(src: Data) -> Data:
    depts = Departments(_nerima_parents(src))
    bodies, posts = _nerima_governance(depts)
    paths = _nerima_previous_paths(src)
    prev = next(h for h in src["hierarchy"] if h["level"] == "previous_plan")
    measures = {m["uid"]: m for m in src["measures"] if not m["plan"].startswith(CURRENT)}
    by_path = {p: measures[uid] for uid, p in paths.items()}
    nodes, grades = [], []
    for goal in prev["items"]:
        gnode: Data = {
            "code": goal["code"],
            "kind": "group",
            "level": 0,
            "title": goal["title"],
            "children": [],
        }
        for group in goal["children"]:
            gpath = f"{goal['code']}/{group['code']}"
            grp: Data = {
                "code": group["code"],
                "kind": "group",
                "level": 1,
                "title": group["title"],
                "children": [],
            }
            for item in group["items"]:
                path = f"{gpath}/{item['code']}"
                m = by_path[path]
                owners, others = depts.owners(m["owner_department"])
                grp["children"].append(
                    {
                        "code": item["code"],
                        "kind": "measure",
                        "level": 2,
                        "title": m["title"],
                        "description": "\n".join(m.get("plan_outline_at_adoption_取組概要") or [])
                        or None,
                        "owners": owners,
                        "others_text": others,
                        "notes": [
                            note("remark", f"取組内容（実績）：{ms['text']}")
                            for ms in m.get("milestones_取組内容", [])
                        ],
                    }
                )
                grades.append(
                    {
                        "path": path,
                        "grade": item["result"],
                        "printed": f"{item['result']}（{m['status_meaning']}）",
                    }
                )
            gnode["children"].append(grp)
        nodes.append(gnode)
    indicators = []
    for ind in src["indicators"]:
        if ind["plan"] is None or ind["plan"].startswith(CURRENT):
            continue
        notes_extra: list[Data] = []
        if ind["measure_code"]:
            linked = [paths[ind["measure_code"]]]
        else:
            linked = ["目標1"] if ind["id"].startswith("P1") else ["目標3"]
            notes_extra.append(
                note(
                    "inferred",
                    "計画全体の評価指標で取組へのひも付けは印字なし。"
                    + (
                        "区民サービスの目標1"
                        if ind["id"].startswith("P1")
                        else "情報システムの目標3"
                    )
                    + "に紐付けた。",
                    "nodes",
                )
            )
        item = _nerima_indicator(ind, f"ict2016.{ind['id'].lower()}", linked, (2016, 2019))
        item["notes"] += notes_extra
        indicators.append(item)
    doc = src["document"]
    plan = {
        "key": "ict2016",
        "title": "練馬区情報化基本計画（平成28年度〜31年度）",
        "kind": "基本計画",
        "period": {"start": "平成28年度", "end": "平成31年度"},
        "state": "superseded",
        "level_labels": ["目標", "施策区分", "取組"],
        "published_on": "2016-10",
        "source": "練馬区情報化基本計画（令和2年度〜令和6年度） "
        "参考資料2「情報化基本計画（平成28年度〜31年度）"
        "の取組結果」 reference/sources/nerima-ict-2020.txt",
        "notes": [
            note(
                "remark",
                "前計画そのものの文書は参照資料にない。現計画の参考資料2（取組結果・評価指標の達成"
                "状況）から構成した。"
                "年度別スケジュールは印字されていない。",
            ),
            note("remark", f"計画の系譜：{doc['predecessor_plan']}"),
        ],
    }
    return {
        "format_version": 1,
        "tenant": NERIMA,
        "grading_scale": NERIMA_SCALE,
        "departments": depts.data(),
        "bodies": bodies,
        "posts": posts,
        "plan": plan,
        "nodes": nodes,
        "indicators": indicators,
        "published_evaluations": {
            "source": "参考資料2 ①取組結果（【取組結果の凡例】A:達成(30項目) B:一部達成(1項目)）",
            "grades": grades,
            "summaries": [
                {
                    "counts": {"A": 30, "B": 1},
                    "total": 31,
                    "printed": "A:達成(30項目) B:一部達成(1項目)",
                }
            ],
            "notes": [note("remark", "評価は計画期間終了時に取組ごとに一度（年度別ではない）。")],
        },
    }


# ---------------------------------------------------------------------------------------------
# 文京区 ICT推進ビジョン（案） (FY2019-2021)
# ---------------------------------------------------------------------------------------------

BUNKYO = {"slug": "bunkyo", "name": "文京区", "name_en": "Bunkyo City"}


def build_bunkyo(src: Data) -> Data:
    depts = Departments()
    goals = next(h for h in src["hierarchy"] if h["level"] == 2)
    nodes: list[Data] = []
    path_of: dict[str, str] = {}
    goal_nodes: dict[str, Data] = {}
    for g in goals["items"]:
        code = g["id"].replace("第4章", "")
        node = {
            "code": code,
            "kind": "group",
            "level": 0,
            "title": g["title"],
            "description": g["statement"],
            "source": f"{g['id']}（{g['id_in_chapter2']}） p.{g['page']}",
            "children": [],
        }
        path_of[g["id"]] = code
        goal_nodes[g["id"]] = node
        nodes.append(node)
    existing: Data = {
        "code": "第1章4(2)",
        "kind": "group",
        "level": 0,
        "title": "これまでの主な情報政策に関する取組",
        "children": [],
    }
    structure: Data = {
        "code": "第2章4",
        "kind": "group",
        "level": 0,
        "title": "推進体制",
        "children": [],
    }
    path_of["第1章4(2)"], path_of["第2章4"] = "第1章4(2)", "第2章4"
    goal_nodes["第1章4(2)"], goal_nodes["第2章4"] = existing, structure
    nodes += [existing, structure]

    def status_of(text: str | None) -> str | None:
        if not text:
            return None
        for word, status in (
            ("新規", "新規"),
            ("拡充", "拡充"),
            ("拡大", "拡充"),
            ("継続", "継続"),
            ("実施済", "完了"),
        ):
            if text.startswith(word):
                return status
        return None

    measures = src["measures"]
    counters: dict[str, int] = {}
    for m in measures:
        parent = m["parent_code"]
        if m["level"] == "実施概要項目":
            continue
        code = m["code"] or f"{len(goal_nodes[parent]['children']) + 1}"
        path = f"{path_of[parent]}/{code}"
        path_of[m["path_code"]] = path
        owners, others = depts.owners([m["owner_department"]] if m["owner_department"] else [])
        node = {
            "code": code,
            "kind": "measure",
            "level": 1,
            "title": m["title"],
            "description": m["description"],
            "owners": owners,
            "others_text": others,
            "status": status_of(m.get("status_inferred")),
            "expected_effects": list(m.get("expected_effects") or []),
            "source": f"{m['path_code']}" + (f" p.{m['page']}" if m.get("page") else ""),
            "notes": _bunkyo_notes(m),
            "children": [],
        }
        goal_nodes[parent]["children"].append(node)
        goal_nodes[m["path_code"]] = node
    for m in measures:
        if m["level"] != "実施概要項目":
            continue
        parent = goal_nodes[m["parent_code"]]
        counters[m["parent_code"]] = counters.get(m["parent_code"], 0) + 1
        code = str(counters[m["parent_code"]])
        path = f"{path_of[m['parent_code']]}/{code}"
        path_of[m["path_code"]] = path
        node = {
            "code": code,
            "kind": "item",
            "level": 2,
            "title": m["title"],
            "description": m.get("commitment_as_printed") or m["description"],
            "notes": [
                note("remark", "実施概要の箇条書き。番号は印字されていない（順に付番）。", "code"),
                *_bunkyo_notes(m),
            ],
        }
        parent["children"].append(node)
    continues = {}
    for m in measures:
        for target in m.get("continued_by") or []:
            continues.setdefault(target, []).append(m["path_code"])
    for target, sources in continues.items():
        node = goal_nodes.get(target)
        if node is None:
            continue
        node["lineage"] = [
            {
                "kind": "carried_over",
                "from_path": path_of[s],
                "note": "既存取組（第1章4(2)）からの継承。",
            }
            for s in sources
        ]

    indicators = []
    for i, ind in enumerate(src["indicators"], start=1):
        if ind["measure_code"] is None:
            continue  # context (population, employment projection): see datasets/README.md
        indicators.append(_bunkyo_indicator(ind, f"ict-vision-2019.i{i:02d}", path_of))
    for i, q in enumerate(src["qualitative_targets"], start=1):
        indicators.append(
            {
                "key": f"ict-vision-2019.q{i:02d}",
                "title": q["target_as_printed"].rstrip("。"),
                "nodes": [path_of[q["measure_code"]]],
                "polarity": "lower_is_better"
                if q["direction"] == "decrease"
                else "higher_is_better",
                "qualitative": True,
                "targets": [{"fiscal_year": 2021, "text": q["target_as_printed"]}],
                "description": f"想定される指標：{q['implied_metric']}",
                "notes": [
                    note(
                        "inferred",
                        "ビジョンの定性的な目標。数値目標・年度の印字はなく、計画最終年度（平成33年"
                        "度＝令和3年度）"
                        "の目標として記録。想定指標は分析者の推定。",
                    )
                ],
            }
        )

    doc = src["document"]
    gov = src["governance"]
    jo = depts.add("情報政策課")
    bodies = [
        {
            "code": "IT・情報セキュリティ委員会",
            "name": "IT・情報セキュリティ委員会",
            "kind": "委員会",
            "secretariat": jo,
            "role": gov["bodies"][0]["role"],
            "notes": [
                note(
                    "inferred",
                    "事務局を情報政策課とした（庁内ICT推進を担う課。事務局の明記はない）。",
                    "secretariat",
                ),
                note(
                    "remark",
                    "開催："
                    + "、".join(
                        f"{x['n']} {x['date_printed']}"
                        for x in gov["bodies"][0]["meetings_printed"]
                    ),
                ),
            ],
        },
        {
            "code": "IT・情報セキュリティ部会",
            "name": "IT・情報セキュリティ部会",
            "kind": "部会",
            "parent": "IT・情報セキュリティ委員会",
            "role": gov["bodies"][1]["role"],
            "notes": [note("inferred", "委員会の下部組織と推定（上下関係の明記なし）。", "parent")],
        },
        {"code": "CSIRT", "name": "CSIRT", "kind": "その他", "role": gov["bodies"][4]["role"]},
    ]
    posts = [
        {
            "code": "事務局",
            "name": "情報政策課",
            "department": jo,
            "role": gov["bodies"][2]["role"],
            "notes": [note("remark", gov["absent_roles"])],
        }
    ]
    plan = {
        "key": "ict-vision-2019",
        "title": doc["plan_name"],
        "kind": "ビジョン",
        "period": {"start": "平成31年度", "end": "平成33年度"},
        "edition": "案",
        "state": "proposal",
        "level_labels": ["目的", "施策", "実施概要"],
        "default_owner": jo,
        "published_on": doc["published"]["planned_adoption"]["date_ad"],
        "source": f"{doc['document_title_as_printed']} reference/sources/bunkyo-ict-vision-2019.txt"
        "",
        "description": doc["positioning"]["parent_plan"],
        "notes": [
            note("remark", doc["period"]["note"], "period"),
            note("inferred", doc["published"]["inferred"], "published_on"),
            note(
                "remark",
                f"前身：{doc['positioning']['predecessor']}（計画ファイルなし）",
                "predecessor",
            ),
            note("remark", f"対象外：{doc['positioning']['out_of_scope']}"),
            note(
                "remark",
                "施策ごとの所管課・年度別スケジュール・評語は本文書に記載がない。",
                "nodes",
            ),
            note(
                "inferred",
                "所管課の記載がない施策は、事務局（情報政策課）が所管する（default_owner）。",
                "default_owner",
            ),
            note("remark", "案（パブリックコメント前の版）：state は proposal。", "state"),
            *[note("uncertain", t) for t in src["data_model_notes"]],
        ],
    }
    return {
        "format_version": 1,
        "tenant": BUNKYO,
        "departments": depts.data(),
        "bodies": bodies,
        "posts": posts,
        "plan": plan,
        "nodes": nodes,
        "indicators": indicators,
    }


def _bunkyo_notes(m: Data) -> list[Data]:
    notes: list[Data] = []
    if m.get("status_inferred"):
        notes.append(
            note("inferred", f"状態は印字なし。抽出の推定：{m['status_inferred']}", "status")
        )
    for s in m.get("schedule") or []:
        if "ビジョン実施期間" not in s["event"]:
            notes.append(note("remark", f"{s['fiscal_year']}：{s['event']}", "schedule"))
    if m.get("partners"):
        notes.append(note("remark", f"連携先：{'、'.join(m['partners'])}"))
    for key in ("trigger_condition", "depends_on", "note"):
        if m.get(key):
            notes.append(note("remark", f"{m[key]}"))
    return notes


def _bunkyo_indicator(ind: Data, key: str, path_of: dict[str, str]) -> Data:
    notes: list[Data] = [*remark_or_inferred(ind.get("notes"))]
    b = ind.get("baseline")
    baseline = None
    if b:
        value = b.get("value_numeric_min", b.get("value"))
        baseline = {
            "value": value if isinstance(value, int | float) else None,
            "fiscal_year": b.get("fiscal_year_ad")
            if isinstance(b.get("fiscal_year_ad"), int)
            else None,
            "as_of": b.get("as_of_ad"),
            "text": b.get("value_as_printed") or b.get("as_of_printed") or b.get("period_printed"),
        }
    actuals = []
    for a in ind["actuals"]:
        if isinstance(a.get("value"), int | float) and (
            a.get("as_of_printed") or isinstance(a.get("fiscal_year_ad"), int)
        ):
            period = _wareki_period(a.get("as_of_printed")) or f"FY{a['fiscal_year_ad']}"
            actuals.append(
                {"period": period, "value": a["value"], "printed": a.get("as_of_printed")}
            )
        elif isinstance(a.get("value"), int | float) and a.get("period_ad"):
            end = a["period_ad"].split("/")[-1]
            actuals.append(
                {
                    "period": end,
                    "value": a["value"],
                    "comparator": "gte",
                    "printed": f"累計{a['value']:,}件あまり",
                    "notes": [note("remark", f"期間累計（{a['period_ad']}）。")],
                }
            )
        else:
            notes.append(
                note("remark", f"年度を特定できない値：{a.get('value')}（{a.get('fiscal_year')}）")
            )
    targets = []
    for t in ind["targets"]:
        targets.append({"fiscal_year": 2021, "comparator": "gte", "value": t["value"]})
        notes.append(
            note(
                "inferred",
                f"目標年度の印字なし（{t.get('note')}）。計画最終年度として記録。",
                "targets",
            )
        )
    unit = ind["unit"]
    if unit.startswith("割"):
        # 「平均して6割」: the extraction stored 0.6 with the unit 割; store percent
        unit = "%"
        if baseline and baseline["value"] is not None:
            baseline["value"] = round(baseline["value"] * 100)
        for a in actuals:
            a["value"] = round(a["value"] * 100)
        notes.append(note("remark", "印字は「割」（6割＝60%）。% に換算して記録。", "unit"))
    polarity = "lower_is_better" if unit == "位" else "higher_is_better"
    nodes = [path_of[ind["measure_code"]]]
    also = ind.get("also_relates_to")
    for extra in [also] if isinstance(also, str) else (also or []):
        code = extra.replace(" ", "")
        if code in path_of and path_of[code] not in nodes:
            nodes.append(path_of[code])
    as_of = any(not a["period"].startswith("FY") for a in actuals)
    return {
        "key": key,
        "title": ind["name"],
        "nodes": nodes,
        "unit": unit,
        "polarity": polarity,
        "aggregation": "cumulative" if "累計" in unit else "snapshot",
        "granularity": "as_of" if as_of else "fiscal_year",
        "baseline": baseline,
        "targets": targets,
        "actuals": actuals,
        "source": f"抽出 source_line {ind['source_line']}",
        "notes": notes,
    }


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

Builder = Callable[[Data], Data]

# ---------------------------------------------------------------------------------------------
# Printed results as published progress reports (進捗報告)
# ---------------------------------------------------------------------------------------------


def _actual_printed(actual: Data) -> str | None:
    value = actual.get("printed") or actual.get("text")
    if value is None and actual.get("value") is not None:
        value = str(actual["value"])
    if value is None:
        return None
    series = f"（{actual['sub_series']}）" if actual.get("sub_series") else ""
    return f"{series}{value}"


def with_itabashi_early_reports(src: Data) -> Data:
    """板橋区 前期: per measure and year (FY2021, FY2022), the printed 実績 of its workloads
    (事業量) as the report's results, with the grade the ward published for that year."""
    data = build_itabashi_early(src)
    evaluations = data["published_evaluations"]["grades"]
    grades = {(g["path"], g["fiscal_year"]): g["grade"] for g in evaluations}
    reports: list[Data] = []

    built = PlanFile.model_validate(clean(data))
    paths = [p for p, _parent, n in built.iter_nodes() if n.kind.value == "measure"]
    for path in paths:
        for fy in (2021, 2022):
            lines = []
            for ind in data["indicators"]:
                if not any(p == path or p.startswith(path + "/") for p in ind["nodes"]):
                    continue
                for actual in ind.get("actuals", []):
                    printed = _actual_printed(actual) if actual["period"] == f"FY{fy}" else None
                    if printed:
                        lines.append(f"{ind['title']}：{printed}")
            if not lines:
                continue
            reports.append(
                {
                    "path": path,
                    "period": f"FY{fy}",
                    "results": "\n".join(lines),
                    "grade": grades.get((path, fy)),
                    "source": "資料編「前期実施計画の進捗状況（令和5年8月1日時点）」",
                    "notes": [
                        note(
                            "inferred",
                            "実績は事業量ごとの印字（実績欄）をまとめたもの。課題・方向性は印字なし。",
                            "results",
                        )
                    ],
                }
            )
    data["progress_reports"] = reports
    return data


def with_nerima_previous_reports(src: Data) -> Data:
    """練馬区 前計画 (平成28〜31年度): the printed 取組内容（実績） of each 取組 as its report for
    the last year of the plan, with its A/B result (evaluated once, at the end of the plan)."""
    data = build_nerima_previous(src)
    paths = _nerima_previous_paths(src)
    measures = {m["uid"]: m for m in src["measures"] if not m["plan"].startswith(CURRENT)}
    grades = {g["path"]: g["grade"] for g in data["published_evaluations"]["grades"]}
    reports: list[Data] = []
    order = {
        p: i for i, (p, _parent, _n) in enumerate(PlanFile.model_validate(clean(data)).iter_nodes())
    }
    for uid, path in sorted(paths.items(), key=lambda p: order[p[1]]):
        milestones = measures[uid].get("milestones_取組内容") or []
        if not milestones:
            continue
        reports.append(
            {
                "path": path,
                "period": "FY2019",
                "results": "\n".join(m["text"] for m in milestones),
                "grade": grades.get(path),
                "source": "練馬区情報化基本計画（令和2年度〜令和6年度） 参考資料2「①取組結果」",
                "notes": [
                    note(
                        "inferred",
                        "取組結果は計画期間終了時に一度評価されたもの。最終年度（平成31年度）の"
                        "報告として読み込む。",
                        "period",
                    )
                ],
            }
        )
    data["progress_reports"] = reports
    return data


BUILDS: list[tuple[str, str, Builder]] = [
    ("itabashi-dx2025-late.yaml", "itabashi-dx-2025-late.json", build_itabashi_late),
    ("itabashi-dx2025-early.yaml", "itabashi-dx-2025-late.json", with_itabashi_early_reports),
    ("itabashi-ict2020-addendum.yaml", "itabashi-ict-2020-addendum.json", build_itabashi_addendum),
    ("nerima-ict2020.yaml", "nerima-ict-2020.json", build_nerima_current),
    ("nerima-ict2016.yaml", "nerima-ict-2020.json", with_nerima_previous_reports),
    ("bunkyo-ict-vision-2019.yaml", "bunkyo-ict-vision-2019.json", build_bunkyo),
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
