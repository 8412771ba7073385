"""The cache of parsed package data: a cached read always equals a parse of the file as it is now."""

from __future__ import annotations

import datetime

import pytest
import yaml

from planner import package_data


@pytest.fixture
def data(tmp_path, monkeypatch):
    """A data folder and a cache folder of the test's own."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setattr(package_data, "DATA", folder)
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "cache"))
    return folder


def _entries(cache) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_every_package_file_reads_the_same_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path))
    files = sorted(package_data.DATA.rglob("*.yaml"))
    assert len(files) >= 20
    for f in files:
        parts = f.relative_to(package_data.DATA).parts
        parsed = yaml.safe_load(f.read_text(encoding="utf-8"))
        assert package_data.load(*parts) == parsed  # parsed, then stored
        assert package_data.load(*parts) == parsed  # read back
    assert len(list(tmp_path.glob("*.json"))) == len(files)


def test_a_second_read_does_not_parse(data, monkeypatch):
    (data / "a.yaml").write_text("x: [1, 2.5, true, null, text]\n")
    first = package_data.load("a.yaml")

    def refuse(raw):
        raise AssertionError("parsed again")

    monkeypatch.setattr(package_data, "_parse", refuse)
    assert package_data.load("a.yaml") == first == {"x": [1, 2.5, True, None, "text"]}


def test_an_edited_file_is_parsed_again_and_its_old_entry_dropped(data, tmp_path):
    (data / "a.yaml").write_text("x: 1\n")
    (data / "a-b.yaml").write_text("y: 1\n")  # a file whose name extends the other's keeps its entry
    assert package_data.load("a.yaml") == {"x": 1}
    assert package_data.load("a-b.yaml") == {"y": 1}
    (data / "a.yaml").write_text("x: 2\n")
    assert package_data.load("a.yaml") == {"x": 2}
    names = _entries(tmp_path / "cache")
    assert len(names) == 2 and sum(n.startswith("a-b-") for n in names) == 1


def test_a_damaged_entry_is_ignored_and_replaced(data, tmp_path):
    (data / "a.yaml").write_text("x: 1\n")
    package_data.load("a.yaml")
    (entry,) = (tmp_path / "cache").iterdir()
    entry.write_text("{not json")
    assert package_data.load("a.yaml") == {"x": 1}
    assert entry.read_text() == '{"x": 1}'


@pytest.mark.parametrize("text, value", [
    ("when: 2025-01-31\n", {"when": datetime.date(2025, 1, 31)}),
    ("1: one\n", {1: "one"}),
    ("x: .nan\n", None),
])
def test_data_json_cannot_give_back_is_not_stored(data, tmp_path, text, value):
    (data / "a.yaml").write_text(text)
    got = package_data.load("a.yaml")
    if value is not None:
        assert got == value
    assert _entries(tmp_path / "cache") == []


def test_the_cache_can_be_turned_off(data, tmp_path, monkeypatch):
    monkeypatch.setenv("PLANNER_CACHE_DIR", "")
    (data / "a.yaml").write_text("x: 1\n")
    assert package_data.load("a.yaml") == {"x": 1}
    assert not (tmp_path / "cache").exists()


def test_a_cache_path_that_is_a_file_costs_only_the_parse(data, tmp_path):
    (tmp_path / "cache").write_text("a file, not a folder")
    (data / "a.yaml").write_text("x: 1\n")
    assert package_data.load("a.yaml") == {"x": 1}
    assert (tmp_path / "cache").read_text() == "a file, not a folder"


def test_without_a_home_there_is_no_cache(monkeypatch):
    monkeypatch.delenv("PLANNER_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr("os.path.expanduser", lambda p: p)
    assert package_data.cache_dir() is None


def test_xdg_cache_home_is_the_default_home(tmp_path, monkeypatch):
    monkeypatch.delenv("PLANNER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert package_data.cache_dir() == tmp_path / "planner"
