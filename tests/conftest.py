"""Session-wide real infrastructure for every test (see suishin.devstack.testing)."""

from collections.abc import Iterator

import pytest

from suishin.devstack.testing import DockerUnavailable, Infrastructure, test_infrastructure


@pytest.fixture(scope="session")
def infra() -> Iterator[Infrastructure]:
    try:
        with test_infrastructure() as infrastructure:
            yield infrastructure
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
