"""Connection types shared by the storage modules."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Connection
Executor = Any  # a connection or a pool: both have fetch/fetchrow/fetchval/execute
