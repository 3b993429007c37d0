"""Session inputs of the hostile suite (see test_hostile.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from assets import Assets


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> Assets:
    return Assets(tmp_path_factory.mktemp("hostile-assets"))
