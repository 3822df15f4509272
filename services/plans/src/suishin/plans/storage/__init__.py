"""All SQL of the plans service (asyncpg, explicit queries; the pool's search_path is the schema).

One module per aggregate: ``tenants`` (wards, departments, grade scales), ``plans`` (plans and
their history), ``nodes`` (the tree, owners, measure search), ``history`` (node history),
``grades`` (indicator statuses, machine/override/effective grades, published grades),
``imports`` (the writes of a plan-file import) and ``reports`` (progress reports, their
workflow, deadlines and the deadline sweep's signals). Functions take a connection (or a pool for
reads) and return records.
"""

from suishin.plans.storage import grades, history, imports, nodes, plans, reports, tenants
from suishin.plans.storage.db import Conn, Executor

__all__ = [
    "Conn",
    "Executor",
    "grades",
    "history",
    "imports",
    "nodes",
    "plans",
    "reports",
    "tenants",
]
