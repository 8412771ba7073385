"""Live checks against a real Triton server: smoke tests and CPU rehearsals of generated repositories."""

from planner.live.rehearse import rehearse
from planner.live.report import SmokeReport, render_rich, render_text
from planner.live.server import ServerNotInstalled, ServerStartError, find_installation, triton_server
from planner.live.smoke import run_smoke

__all__ = [
    "ServerNotInstalled",
    "ServerStartError",
    "SmokeReport",
    "find_installation",
    "rehearse",
    "render_rich",
    "render_text",
    "run_smoke",
    "triton_server",
]
