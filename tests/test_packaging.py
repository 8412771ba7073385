"""The wheel carries everything the emitters read, so a plain `pip install` (not -e) works."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_templates_data_and_triton_models(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("planner-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {f"planner/templates/{p.relative_to(ROOT / 'templates').as_posix()}"
                 for p in (ROOT / "templates").rglob("*.j2")}
    assert templates and templates <= names, sorted(templates - names)
    data = {p.relative_to(ROOT).as_posix() for p in (ROOT / "planner" / "data").rglob("*.yaml")}
    assert data <= names, sorted(data - names)
    models = {p.relative_to(ROOT).as_posix() for p in (ROOT / "planner" / "triton_models").glob("*/model.py")}
    assert len(models) == 5 and models <= names, sorted(models - names)
