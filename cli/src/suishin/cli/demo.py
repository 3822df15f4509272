"""Demo data for ``suishin up``: the reference plans, actuals and demo users."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from suishin.cli.stack import Stack


def load_demo(stack: Stack, say: Callable[[str], None] = print) -> None:
    say("demo data: not loaded yet (the plan datasets arrive with the plans service)")
