"""The content store conformance suite against every implementation."""

import pytest

from boxen.image.content.local import LocalContentStore
from boxen.image.content.memory import MemoryContentStore
from boxen.image.testing.content import CASES

IMPLEMENTATIONS = {
    "local": lambda tmp_path: LocalContentStore(str(tmp_path / "content")),
    "memory": lambda tmp_path: MemoryContentStore(),
}


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_content_store(impl, case, tmp_path):
    CASES[case](IMPLEMENTATIONS[impl](tmp_path))
