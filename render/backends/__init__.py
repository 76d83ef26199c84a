"""Generator backends behind one session protocol (see :mod:`render.backends.base`)."""
