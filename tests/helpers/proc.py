"""Helpers for tests that interrupt child processes."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` for a child a test will stop with SIGINT (Ctrl-C).

    A shell that runs the suite as a background job (as some CI runners do) starts it with
    SIGINT ignored; children inherit that, and Python then installs no KeyboardInterrupt
    handler, so the child would never see the test's Ctrl-C. Restore the default first.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
