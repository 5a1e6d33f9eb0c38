from __future__ import annotations

from pathlib import Path

import pytest

from tests.migrations.mutations import make_releases


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """This checkout as the previous release, and a worktree per scratch revision (mutations.py)."""
    return make_releases(tmp_path_factory.mktemp("releases"))
