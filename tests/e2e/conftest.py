"""The whole platform as separate processes, like `suishin up`, on the test infrastructure."""

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from suishin.cli.stack import Stack
from suishin.kit.embedded import port_open
from suishin.kit.testing import Infrastructure, isolated_env, unique_prefix


def free_port_block(size: int = 6) -> int:
    """Consecutive free ports below the ephemeral range, so no outgoing connection takes one
    between choosing and binding."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000)
        if not any(port_open("127.0.0.1", base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


@pytest.fixture(scope="module")
def platform(infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import os

    data_dir: Path = tmp_path_factory.mktemp("platform")
    env = dict(os.environ)
    env.update(isolated_env(infra, unique_prefix()))
    # Shorter shaping windows than a ward would use, so the tests need not wait a minute.
    env["SUISHIN_GROUPING_WINDOW_SECONDS"] = "2"
    env["SUISHIN_DISPATCHER_POLL_INTERVAL"] = "0.2"
    stack = Stack(data_dir, base_port=free_port_block(), env=env, say=lambda _m: None)
    try:
        stack.start_infrastructure()
        stack.start_services(timeout=120)
        yield stack
    finally:
        stack.stop()
