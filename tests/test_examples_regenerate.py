"""`PLANNER_UPDATE_GOLDEN=1` / scripts/regenerate_examples.py must be able to rewrite the committed examples."""

from __future__ import annotations

from planner.emit.examples import EXAMPLES, regenerate, render_example
from planner.emit.writer import MARKER


def test_regenerate_rewrites_examples_committed_without_the_marker(tmp_path):
    for name in EXAMPLES:  # as committed: the files, a stale one, and no marker
        (tmp_path / name).mkdir()
        (tmp_path / name / "stale.txt").write_text("old\n")
    regenerate(tmp_path)
    for name in EXAMPLES:
        on_disk = {str(p.relative_to(tmp_path / name)) for p in (tmp_path / name).rglob("*") if p.is_file()}
        # written as `planner plan --out` writes: the rendered files and the writer's marker, nothing stale
        assert on_disk == set(render_example(name)) | {MARKER}, name
    regenerate(tmp_path)  # and again, now that they carry the marker
