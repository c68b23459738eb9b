"""The repository's folders the code reads and writes by default. A leaf module: it imports nothing of the
project, so any module (data loaders, checkpoints, the item maps, the app) can take its paths from here."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]          # the repository root (the folder above diffrec_core/)
SAMPLE_DATA = REPO / "sample_data"                  # the shipped sample world (python -m diffrec_core sample-world)
PRETRAINED = REPO / "pretrained"                    # the shipped checkpoints (python -m diffrec_core pretrain)
BENCHMARK_RESULTS = REPO / "benchmarks" / "results" # committed benchmark outputs the app reads
METHODS_DOC = REPO / "docs" / "methods.md"          # the method specification the app cites
