"""Option files (`planner plan -c plan.yaml`): YAML keys are the option names `--help` shows.

A key is an option's long name without the dashes (`max-batch-size`, or `max_batch_size`);
`model` is the MODEL argument and `model-path` the `--model PATH` option. The parameter's
internal name (`model_name`, `decoupled`, ...) is accepted too, so older files keep working.
Values must already have the option's type: YAML's `4.9` is not an integer and `true` is not a
batch size, where click's own conversion would truncate the one and count the other as 1.
Every failure is an InputError that says "config file".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from planner.errors import InputError
from planner.safeio import shown_value
from planner.yamlio import load_user_yaml


def read_option_file(path: Path, command: click.Command, command_name: str) -> dict[str, Any]:
    """{parameter name: value} for click's default_map, every value checked against its option."""
    where = f"config file {shown_value(str(path), 120)}"
    raw = load_user_yaml(path, "config file")
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be a mapping of option names to values")
    names = option_names(command)
    defaults: dict[str, Any] = {}
    for key, value in raw.items():
        param = names.get(key.replace("_", "-")) if isinstance(key, str) else None
        if param is None:
            raise InputError(f"{where}: unknown option {shown_value(key)}{_nearest(key, names)} (keys are the "
                             f"option names of `planner {command_name} --help`)")
        defaults[str(param.name)] = _checked(where, primary_name(param), param, value)
    return defaults


def primary_name(param: click.Parameter) -> str:
    """How --help names a parameter, without dashes; the MODEL argument is `model`."""
    if isinstance(param, click.Argument):
        return str(param.human_readable_name).lower()
    longs = [o for o in param.opts if o.startswith("--")]
    name = longs[0][2:] if longs else str(param.name).replace("_", "-")
    return "model-path" if name == "model" else name


def _nearest(key: Any, names: dict[str, click.Parameter]) -> str:
    """'; did you mean ...?' with the --help names closest to an unknown key, or nothing."""
    import difflib

    shown = sorted({primary_name(p) for p in names.values()})
    close = difflib.get_close_matches(str(key).replace("_", "-"), shown, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


def option_names(command: click.Command) -> dict[str, click.Parameter]:
    """Every key an option file may use for `command`: the internal names, then the --help names."""
    params = [p for p in command.params if p.name and p.name != "config"]
    names = {str(p.name).replace("_", "-"): p for p in params}
    names.update({primary_name(p): p for p in params})  # the names users read win
    return names


def _checked(where: str, key: str, param: click.Parameter, value: Any) -> Any:
    kind = param.type
    if value is None:
        return None
    if isinstance(param, click.Option) and (param.is_flag or isinstance(kind, click.types.BoolParamType)):
        if not isinstance(value, bool):
            raise InputError(f"{where}: {key} must be true or false, got {shown_value(value)}")
        return value
    if isinstance(kind, click.types.IntParamType):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InputError(f"{where}: {key} must be an integer, got {shown_value(value)}")
    elif isinstance(kind, click.types.FloatParamType):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InputError(f"{where}: {key} must be a number, got {shown_value(value)}")
    elif not isinstance(value, str):
        raise InputError(f"{where}: {key} must be a string, got {shown_value(value)}")
    try:
        return kind.convert(value, param, None)
    except click.BadParameter as exc:
        raise InputError(f"{where}: {key}: {exc.message}") from None
