"""Shared test helpers: signals, servers, fake backends and small audio generators."""
