"""A progress bar on stderr for smoke runs and rehearsals (rich), silent when stderr is not a terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from planner.live.smoke import Progress

STAGES = {
    "prepare": "preparing the repository",
    "boot": "starting tritonserver",
    "probe": "checking health and metadata",
    "config": "comparing the served config",
    "requests": "sending requests",
    "done": "done",
}


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    """Yield a `progress(stage, done, total)` callback that drives one rich bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    show = enabled and console.is_terminal
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console, transient=True, disable=not show)
    task = bar.add_task(STAGES["probe"], total=1)

    def update(stage: str, done: int, total: int) -> None:
        bar.update(task, description=STAGES.get(stage, stage), completed=done, total=max(1, total))

    with bar:
        yield update
