"""A measure lists the indicators of its workload items: links roll up to every ancestor."""

from suishin.contracts import ids
from suishin.indicators.domain.definitions import IndicatorDefinition, LinkInput, link_ancestor_ids

TENANT, PLAN = "itabashi", "dx2025-late"


def link(path: str, plan_key: str = PLAN) -> LinkInput:
    return LinkInput(
        node_id=ids.node_id(TENANT, plan_key, path),
        plan_id=ids.plan_id(TENANT, plan_key),
        node_path=path,
    )


def definition(*links: LinkInput) -> IndicatorDefinition:
    return IndicatorDefinition(
        tenant=TENANT,
        key="k",
        title="t",
        period_start_fy=2024,
        period_end_fy=2025,
        plan_id=ids.plan_id(TENANT, PLAN),
        plan_key=PLAN,
        links=links,
    )


def test_an_item_link_rolls_up_to_its_measure_and_goal() -> None:
    ancestors = link_ancestor_ids(definition(link("基本方針Ⅰ/施策1/1")))
    assert ancestors == [
        ids.node_id(TENANT, PLAN, "基本方針Ⅰ"),
        ids.node_id(TENANT, PLAN, "基本方針Ⅰ/施策1"),
    ]


def test_shared_ancestors_appear_once_and_direct_links_are_not_repeated() -> None:
    ancestors = link_ancestor_ids(
        definition(link("基本方針Ⅰ/施策1/1"), link("基本方針Ⅰ/施策1/2"), link("基本方針Ⅰ"))
    )
    assert ancestors == [ids.node_id(TENANT, PLAN, "基本方針Ⅰ/施策1")]


def test_links_into_another_plan_or_without_a_path_do_not_roll_up() -> None:
    other = link("基本方針Ⅰ/施策1/1", plan_key="dx2025-early")
    bare = LinkInput(node_id=ids.node_id(TENANT, PLAN, "x"))
    assert link_ancestor_ids(definition(other, bare)) == []
