"""The built-in model and GPU catalogs (YAML data files with a source per entry)."""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from planner import package_data
from planner.errors import InputError
from planner.specs import GpuSpec, ModelSpec

DATA_DIR = package_data.DATA

T = TypeVar("T", bound=BaseModel)


def normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _load(filename: str, key: str, cls: type[T]) -> tuple[T, ...]:
    raw = package_data.load(filename)
    try:
        return tuple(cls.model_validate(entry) for entry in raw[key])
    except ValidationError as exc:  # a broken catalog is a bug, not user input
        raise RuntimeError(f"{filename}: {exc}") from exc


def _index(entries: tuple[T, ...]) -> dict[str, T]:
    index: dict[str, T] = {}
    for entry in entries:
        for name in (entry.name, *entry.aliases):  # type: ignore[attr-defined]
            key = normalize(name)
            if index.get(key, entry) is not entry:
                raise RuntimeError(f"catalog name {name!r} is used twice")
            index[key] = entry
    return index


@lru_cache(maxsize=1)
def models() -> tuple[ModelSpec, ...]:
    return _load("models.yaml", "models", ModelSpec)


@lru_cache(maxsize=1)
def gpus() -> tuple[GpuSpec, ...]:
    return _load("gpus.yaml", "gpus", GpuSpec)


@lru_cache(maxsize=1)
def _model_index() -> dict[str, ModelSpec]:
    return _index(models())


@lru_cache(maxsize=1)
def _gpu_index() -> dict[str, GpuSpec]:
    return _index(gpus())


def suggest(name: str, choices: list[str], n: int = 3) -> list[str]:
    key = normalize(name)
    close = difflib.get_close_matches(key, choices, n=n, cutoff=0.5)
    if not close:
        close = [c for c in choices if key and (key in c or c in key)][:n]
    return close


def _lookup(name: str, index: dict[str, T], what: str, listing: str) -> T:
    key = normalize(name)
    if key in index:
        return index[key]
    # "meta-llama/Llama-3.1-70B-Instruct" also matches by its repo-less tail
    tail = key.rsplit("/", 1)[-1]
    if tail in index:
        return index[tail]
    close: list[str] = []
    for match in suggest(tail, sorted(index), n=8):
        canonical = index[match].name  # type: ignore[attr-defined]
        if canonical not in close:
            close.append(canonical)
    hint = f"; did you mean {', '.join(close[:3])}?" if close else ""
    raise InputError(f"unknown {what} {name!r}{hint} (see `planner {listing}`)")


def get_model(name: str) -> ModelSpec:
    return _lookup(name, _model_index(), "model", "models")


def get_gpu(name: str) -> GpuSpec:
    return _lookup(name, _gpu_index(), "GPU", "gpus")
