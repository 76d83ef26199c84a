"""``lyria-render serve``: Lyria RealTime's BidiGenerateMusic protocol over TLS WebSockets.

The server speaks the wire protocol the google-genai SDK speaks (see
``shared/LYRIA.md``), backed by the offline engine (one engine session per connection),
with on-demand fault injection, so the Lyria backend can be proven end to end without
reaching Google::

    with Server(pace="fast", faults=(FaultPlan(drop_after_chunks=3),)) as srv:
        backend = LyriaBackend(api_key="k", base_url=srv.base_url, ca_cert=srv.ca_cert)

Modules: :mod:`.protocol` (wire messages, validation), :mod:`.faults` (fault plans),
:mod:`.tls` (local CA), :mod:`.engine` (engine on a worker thread),
:mod:`.connection` (one client), :mod:`.app` (the server object).
"""

from .app import Server, ServerOptions, serve_forever
from .faults import FaultPlan, load_fault_plans

__all__ = ["Server", "ServerOptions", "serve_forever", "FaultPlan", "load_fault_plans"]
