"""Fixtures for the engine unit tests."""

import pytest

from tests.unit.helpers import DOC, FakeResolver, build_guard


@pytest.fixture(scope="session")
def reserved_guard():
    """A guard over the reserved blocks only (empty prefix data)."""
    return build_guard(None, resolver=FakeResolver({}))


@pytest.fixture(scope="session")
def doc_guard():
    """A guard over :data:`DOC` plus the reserved blocks, with a fake resolver."""
    return build_guard(DOC, resolver=FakeResolver({}))
