"""The API key: where it comes from, and keeping it out of every message and log.

Light on purpose (no SDK import): choosing a backend only needs :func:`resolve_api_key`.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ..errors import UsageError
from ..files import read_regular

__all__ = ["redact", "redact_url", "resolve_api_key", "register_secret"]

_KEY_FILE_LIMIT = 64 << 10

_LOGGERS = ("websockets", "websockets.client", "google_genai", "google_genai.live_music", "render")


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***``."""
    if not secret:
        return text
    return text.replace(secret, "***")


_URL_USERINFO_RE = re.compile(r"(?<=://)[^/?#@\s]*@")
_URL_SECRET_PARAM_RE = re.compile(r"([?&;](?:key|api_key|apikey|token|access_token|password|secret)=)[^&#;\s]*",
                                  re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` without the secrets it may embed: ``user:pass@`` and ``?key=``-like parameters."""
    return _URL_SECRET_PARAM_RE.sub(r"\1***", _URL_USERINFO_RE.sub("***@", url))


def resolve_api_key(api_key_file: Path | None = None) -> str | None:
    """The API key: from ``api_key_file``, else ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY``.

    Raises:
        UsageError: the file is given but unreadable or empty.
    """
    if api_key_file is not None:
        try:
            key = read_regular(api_key_file, "API key file", limit=_KEY_FILE_LIMIT).decode("utf-8").strip()
        except UnicodeDecodeError:
            raise UsageError(f"API key file {api_key_file} is not UTF-8 text") from None
        if not key:
            raise UsageError(f"API key file {api_key_file} is empty")
        return key
    return os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY") or None


_HEADER_RE = re.compile(r"(x-goog-api-key:\s*)\S+", re.IGNORECASE)


class _RedactFilter(logging.Filter):
    """Scrubs API keys (registered ones, and any ``x-goog-api-key`` header) from log records."""

    secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = _HEADER_RE.sub(r"\1***", message)
        for secret in self.secrets:
            scrubbed = redact(scrubbed, secret)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


_FILTER = _RedactFilter()
for _name in _LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


def register_secret(secret: str) -> None:
    """Scrub ``secret`` from every record of the SDK's, websockets' and our loggers."""
    if secret:
        _FILTER.secrets.add(secret)
