"""Shared test fixtures: the golden fixtures shipped in tests/golden, where ../shared lives (benchmark data),
and skipping cleanly where that is absent."""
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = REPO / "tests" / "golden"   # numbers computed with the authors' code, shipped (see its README)
DATA = SHARED / "data"

torch.set_num_threads(min(2, torch.get_num_threads()))


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (benchmark data lives in ../shared beside the repository)")
    return path


@pytest.fixture
def golden():
    return GOLDEN
