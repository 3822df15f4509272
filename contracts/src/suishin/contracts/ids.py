"""Deterministic identifiers shared across services.

Plan files are imported by more than one service (plans own the tree, indicators own the
indicator definitions); both derive the same ids from the same natural keys, so neither has to
ask the other.
"""

from uuid import UUID, uuid5

SUISHIN_NAMESPACE = UUID("6f1d2c8e-5b0a-4f3e-9a57-1c2d3e4f5a6b")


def plan_id(tenant: str, plan_key: str) -> UUID:
    return uuid5(SUISHIN_NAMESPACE, f"plan/{tenant}/{plan_key}")


def node_id(tenant: str, plan_key: str, node_path: str) -> UUID:
    """Id of a plan node (goal, measure, sub-item) from its path of normalised codes."""
    return uuid5(SUISHIN_NAMESPACE, f"node/{tenant}/{plan_key}/{node_path}")


def indicator_id(tenant: str, indicator_key: str) -> UUID:
    return uuid5(SUISHIN_NAMESPACE, f"indicator/{tenant}/{indicator_key}")
