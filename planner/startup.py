"""What the `planner` command does before anything else is imported.

Pydantic looks for plugins the first time it builds a model: `pydantic.plugin._loader` imports
importlib.metadata (and with it email, zipfile, csv, ...) and scans every installed distribution's
entry points, about 20 ms of a command that should answer in a few hundred. The planner uses no
pydantic plugins, so the command line stands in a loader that finds none, as
PYDANTIC_DISABLE_PLUGINS=__all__ would, without the import. The Python API (`import planner`) is
left as pydantic sets it up, and so is a process whose PYDANTIC_DISABLE_PLUGINS names some plugins.
`tests/test_startup.py` checks that pydantic asks the loader for nothing else.

Building pydantic's schemas allocates many small containers and frees almost no reference cycles, so
the collector's default threshold (a collection every 700 net allocations) ran some 60 collections in
a cold `planner plan` to free a few hundred objects: 2 % of its instructions (`benchmarks/bench_plan.py
--instructions`). One command is short-lived: the command line collects after 100,000 net allocations
instead (gen0), which a plan never reaches.

Tearing the interpreter down at exit (freeing every module, a full collection) took 7 % of a cold
`planner plan`'s instructions, for a process whose memory the OS takes back anyway. The `planner` command
therefore ends with `os._exit` once its output is flushed, but only when no teardown is owed: nothing
registered with atexit (logging's flush, tempfile's clean-up, ...) and no live thread to join.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import types

_LOADER = "pydantic.plugin._loader"


GEN0_THRESHOLD = 100_000


def collect_garbage_rarely() -> None:
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, GEN0_THRESHOLD), gen1, gen2)


def skip_pydantic_plugin_discovery() -> None:
    if _LOADER in sys.modules or os.environ.get("PYDANTIC_DISABLE_PLUGINS", "__all__") not in ("__all__", "1", "true"):
        return
    stub = types.ModuleType(_LOADER, "no pydantic plugins (planner.startup)")
    stub.get_plugins = lambda: ()
    sys.modules[_LOADER] = stub


def teardown_owed() -> bool:
    """Whether exiting without the interpreter's teardown would skip work someone asked for."""
    pending = getattr(atexit, "_ncallbacks", None)
    if pending is None or pending():  # not CPython, or exit handlers registered
        return True
    threading = sys.modules.get("threading")
    return threading is not None and any(
        t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread())


def exit_now(code: int) -> None:
    """Exit with `code`; skip the interpreter's teardown when none is owed."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a vanished reader: main() already settled the code
            stream.flush()
    if not teardown_owed():
        os._exit(code)
    sys.exit(code)
