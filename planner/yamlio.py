"""Reading YAML: libyaml's C loader where PyYAML was built with it, the pure-Python one otherwise.

The C loader reads the catalogs and version profiles several times faster, which is most
of a cold `planner plan`; both are safe loaders.
"""

from __future__ import annotations

from typing import IO, Any

import yaml

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(source: str | IO[str]) -> Any:
    return yaml.load(source, Loader=SafeLoader)  # noqa: S506 - a safe loader
