"""The whole platform as separate processes, like `suishin up`, on the test infrastructure."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from suishin.cli.stack import Stack
from suishin.kit.embedded import free_port, port_open
from suishin.kit.testing import Infrastructure, isolated_env, unique_prefix


def free_port_block(size: int = 4) -> int:
    for _ in range(50):
        base = free_port()
        if base + size < 65000 and not any(port_open("127.0.0.1", base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


@pytest.fixture(scope="module")
def platform(infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import os

    data_dir: Path = tmp_path_factory.mktemp("platform")
    env = dict(os.environ)
    env.update(isolated_env(infra, unique_prefix()))
    stack = Stack(data_dir, base_port=free_port_block(), env=env, say=lambda _m: None)
    try:
        stack.start_infrastructure()
        stack.start_services(timeout=120)
        yield stack
    finally:
        stack.stop()
