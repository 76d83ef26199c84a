"""``lyria-render serve``: Lyria's BidiGenerateMusic protocol over TLS WebSockets, backed by the offline engine.

May import: render.errors, render.audio, render.controls, render.backends. A shell: nothing imports it but the CLI.
"""

from .app import Server, ServerOptions, serve_forever
from .faults import FaultPlan, load_fault_plans

__all__ = ["Server", "ServerOptions", "serve_forever", "FaultPlan", "load_fault_plans"]
