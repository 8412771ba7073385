"""model_repository_examples/ must be byte-identical to what the generator writes.

Refresh after an intended change: PLANNER_UPDATE_GOLDEN=1 pytest tests/test_emit_golden.py
(or python scripts/regenerate_examples.py), then review the diff.
"""

import os

import pytest

from planner.emit.examples import EXAMPLES, EXAMPLES_DIR, regenerate, render_example
from planner.emit.writer import MARKER


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_golden(name):
    if os.environ.get("PLANNER_UPDATE_GOLDEN") == "1":
        regenerate()
    expected = render_example(name)
    root = EXAMPLES_DIR / name
    on_disk = {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in root.rglob("*") if p.is_file()}
    assert MARKER in on_disk, "examples are written as `planner plan --out` writes them; run PLANNER_UPDATE_GOLDEN=1"
    del on_disk[MARKER]
    assert sorted(on_disk) == sorted(expected), "files differ; run PLANNER_UPDATE_GOLDEN=1 pytest"
    for rel, text in expected.items():
        assert on_disk[rel] == text, f"{name}/{rel} drifted; run PLANNER_UPDATE_GOLDEN=1 pytest"
