"""Plan-file import: every reference plan imports, re-imports change nothing, export round-trips,
changes update in place, and bad files write nothing."""

from __future__ import annotations

import pytest

from suishin.contracts import ids
from suishin.plans.exporter import export_plan_file
from suishin.plans.importer import import_plan_file

from .conftest import PlansDb, dataset, dataset_names

pytestmark = pytest.mark.integration


async def counts(db: PlansDb) -> dict[str, int]:
    tables = [
        "plans",
        "nodes",
        "node_owners",
        "node_goals",
        "node_schedule",
        "node_lineage",
        "node_history",
        "published_grades",
        "grades",
        "outbox",
        "plan_history",
    ]
    out = {}
    for t in tables:
        out[t] = await db.pool.fetchval(f"select count(*) from {t}")
    return out


@pytest.mark.parametrize("name", dataset_names())
async def test_reference_plan_imports_and_round_trips(plans_db: PlansDb, name: str) -> None:
    plan_file = dataset(name)
    report = await import_plan_file(plans_db.pool, plan_file)
    nodes = list(plan_file.iter_nodes())
    assert report.nodes_created + report.nodes_unchanged + report.nodes_updated == len(nodes)
    stored = await plans_db.pool.fetchval(
        "select count(*) from nodes where plan_id = $1", plan_file.plan_id()
    )
    assert stored == len(nodes)
    # ids are the shared deterministic ones
    path, _, _ = nodes[-1]
    assert (
        await plans_db.pool.fetchval(
            "select path from nodes where id = $1",
            ids.node_id(plan_file.tenant.slug, plan_file.plan.key, path),
        )
        == path
    )

    before = await counts(plans_db)
    again = await import_plan_file(plans_db.pool, plan_file)
    assert not again.changed, again.details
    assert again.history_rows == 0 and again.events == 0
    assert await counts(plans_db) == before

    exported = await export_plan_file(plans_db.pool, plan_file.tenant.slug, plan_file.plan.key)
    assert exported == plan_file.model_copy(update={"indicators": []})


async def test_plans_of_one_ward_share_departments_without_undoing_each_other(
    plans_db: PlansDb,
) -> None:
    """Every reference plan is imported by now; importing any of them again changes nothing,
    although 板橋区's three plans describe IT推進課 differently (parent, aliases) and bring
    different grade scales (each plan keeps its own)."""
    for name in dataset_names():
        assert not (await import_plan_file(plans_db.pool, dataset(name))).changed, name
    it = await plans_db.pool.fetchrow(
        "select parent_code, aliases from departments where tenant = 'itabashi' "
        "and code = 'IT推進課'"
    )
    assert (it["parent_code"], list(it["aliases"])) == ("政策経営部", ["IT 推進課"])
    scales = await plans_db.pool.fetch(
        "select key, grade_scale is not null as own from plans where tenant = 'itabashi' "
        "order by key"
    )
    assert [(r["key"], r["own"]) for r in scales] == [
        ("dx2025-early", True),
        ("dx2025-late", True),
        ("ict2020-addendum", False),
    ]
