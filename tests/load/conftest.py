"""Fixtures of the load and fault tests: the flagship definition; heavy server tests run one at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from elicit.instruments.loading import load_file
from elicit.instruments.schema import Definition
from tests.conftest import FLAGSHIP
from tests.load.harness import exclusive


@pytest.fixture(scope="session")
def definition() -> Definition:
    """The flagship instrument, as the scripted experts read it (from the file, not from the server)."""
    return load_file(FLAGSHIP)


@pytest.fixture(autouse=True)
def _one_heavy_test_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests in the ``load`` xdist group (real servers, many clients) hold a machine-wide lock while they run."""
    if request.node.get_closest_marker("xdist_group") is None:
        yield
        return
    with exclusive():
        yield
