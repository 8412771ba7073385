"""Schema validation of emitted Kubernetes manifests.

Core kinds are checked with `kubernetes_validate` against the strict OpenAPI schemas of
Kubernetes KUBERNETES_VERSION (strict: unknown fields fail, as `kubectl apply` with its
default `--validate=strict` rejects them). 1.30 is the oldest release the generated objects
need (LeaderWorkerSet supports it) and a release every current managed offering still runs.

Custom resources (LeaderWorkerSet, ServiceMonitor) are checked against the openAPIV3Schema of
their CustomResourceDefinition, read from CRD files (JSON or YAML) in `crd_dirs`, with every
object schema closed so unknown fields fail there too. Their metadata and any pod templates
they embed are also checked as core objects, which the CRD schemas leave open or loose.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from planner.yamlio import load_yaml

KUBERNETES_VERSION = "1.30"
# CRD files are not shipped with the package: callers name the directories that hold them
# (the tests ship LeaderWorkerSet v0.10.0 and ServiceMonitor v0.93.0 under tests/data/lws).
DEFAULT_CRD_DIRS: tuple[Path, ...] = ()

# Where custom resources embed a core PodTemplateSpec.
POD_TEMPLATES: dict[str, tuple[tuple[str, ...], ...]] = {
    "LeaderWorkerSet": (
        ("spec", "leaderWorkerTemplate", "leaderTemplate"),
        ("spec", "leaderWorkerTemplate", "workerTemplate"),
    ),
}

Key = tuple[str, str]  # (apiVersion, kind)


def _close(schema: Any) -> Any:
    """Forbid properties a structural schema does not name (unless it preserves unknown fields)."""
    if isinstance(schema, dict):
        out = {k: _close(v) if k in ("items", "not", "additionalProperties") else v for k, v in schema.items()}
        if "properties" in schema:
            out["properties"] = {name: _close(sub) for name, sub in schema["properties"].items()}
            if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
                out["additionalProperties"] = False
        for key in ("anyOf", "allOf", "oneOf"):
            if key in schema:
                out[key] = [_close(sub) for sub in schema[key]]
        return out
    return schema


# The LeaderWorkerSet CRD is 400 KB of YAML: load_yaml's C loader reads it ten times faster.


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else load_yaml(text)


@lru_cache(maxsize=8)
def crd_schemas(crd_dirs: tuple[Path, ...]) -> dict[Key, dict[str, Any]]:
    """(apiVersion, kind) → closed openAPIV3Schema, for every served version of every CRD found."""
    out: dict[Key, dict[str, Any]] = {}
    for directory in crd_dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.suffix not in (".json", ".yaml", ".yml"):
                continue
            crd = _load(path)
            if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served", True):
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    out[key] = _close(version["schema"]["openAPIV3Schema"])
    return out


def _documents(text: str) -> Iterator[tuple[int, Any]]:
    for index, doc in enumerate(yaml.safe_load_all(text)):
        if doc is not None:
            yield index, doc


def _where(path: str, doc: Mapping[str, Any]) -> str:
    name = (doc.get("metadata") or {}).get("name", "?") if isinstance(doc.get("metadata"), dict) else "?"
    return f"{path}: {doc.get('kind')}/{name}"


def _core_errors(doc: dict[str, Any], where: str, crd_dirs: Sequence[Path] = ()) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        at = ".".join(str(p) for p in e.path) or "(top)"
        return [f"{where}: {at}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        looked = ", ".join(str(d) for d in crd_dirs) or "nowhere"
        return [f"{where}: no schema for {doc.get('apiVersion')} {doc.get('kind')}: not a Kubernetes "
                f"{KUBERNETES_VERSION} kind and no CRD for it (looked in {looked})"]
    return []


def _custom_errors(doc: dict[str, Any], where: str, schema: dict[str, Any]) -> list[str]:
    import jsonschema

    errors = [
        f"{where}: {'.'.join(str(p) for p in err.path) or '(top)'}: {err.message}"
        for err in sorted(jsonschema.Draft4Validator(schema).iter_errors(doc), key=lambda e: list(map(str, e.path)))
    ]
    if isinstance(doc.get("metadata"), dict):
        probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]}
        errors += _core_errors(probe, where)
    for fields in POD_TEMPLATES.get(doc["kind"], ()):
        template: Any = doc
        for field in fields:
            template = template.get(field) if isinstance(template, dict) else None
        if template is None:
            continue
        probe = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "probe"},
                 "template": copy.deepcopy(template)}
        for error in _core_errors(probe, where):
            errors.append(error.replace(": template", ": " + ".".join(fields), 1))
    return errors


def validate_manifests(files: Mapping[str, str], crd_dirs: Sequence[Path] | None = None) -> list[str]:
    """Problems found in the Kubernetes objects among `files` ({path: text}); empty when all pass.

    Every `.yaml`/`.yml` file must parse; each document with `apiVersion` and `kind` is
    validated (others, such as a Compose file, are skipped). A custom resource whose CRD is
    not found in `crd_dirs` is reported, not skipped.
    """
    dirs = tuple(Path(d) for d in (crd_dirs if crd_dirs is not None else DEFAULT_CRD_DIRS))
    schemas = crd_schemas(dirs)
    errors: list[str] = []
    for path, text in sorted(files.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        try:
            docs = list(_documents(text))
        except yaml.YAMLError as e:
            errors.append(f"{path}: not valid YAML: {e}")
            continue
        for index, doc in docs:
            if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                if isinstance(doc, dict) and ("apiVersion" in doc or "kind" in doc):
                    errors.append(f"{path}: document {index} has apiVersion or kind but not both")
                continue
            where = _where(path, doc)
            key = (str(doc["apiVersion"]), str(doc["kind"]))
            if key in schemas:
                errors += _custom_errors(doc, where, schemas[key])
            else:
                errors += _core_errors(doc, where, dirs)
    return errors
