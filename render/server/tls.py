"""TLS material for ``serve``: the SDK forces ``wss://``, so the local server must speak TLS.

Either a throw-away local CA and a server certificate made with ``trustme`` (the CA PEM
is written into the state directory so clients can trust it), or a certificate and key
the user gives.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

__all__ = ["TlsMaterial", "make_tls", "cert_hosts"]


@dataclass(frozen=True, kw_only=True)
class TlsMaterial:
    """A server SSL context and the CA certificate clients should trust.

    ``ca_cert`` is the generated CA's PEM, or the given certificate itself (right when
    it is self-signed; otherwise point clients at the CA that signed it).
    """

    context: ssl.SSLContext
    ca_cert: Path


def make_tls(
    *,
    state_dir: Path,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1"),
    cert: Path | None = None,
    key: Path | None = None,
) -> TlsMaterial:
    """Build the server's TLS context.

    Args:
        state_dir: where the generated CA (``ca.pem``) and server cert are written.
        hosts: names and addresses the generated certificate is valid for.
        cert: a PEM certificate chain to use instead of generating one (needs ``key``).
        key: the PEM private key of ``cert``.

    Returns:
        The context and the CA path clients should trust.

    Raises:
        UsageError: only one of cert/key given, or they cannot be loaded.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if cert is not None or key is not None:
        if cert is None or key is None:
            raise UsageError("--cert and --key go together", hint="give both, or neither to generate a local CA")
        try:
            context.load_cert_chain(str(cert), str(key))
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from None
        return TlsMaterial(context=context, ca_cert=cert)
    import trustme

    state_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="lyria-render serve (local test CA)")
    names = list(dict.fromkeys(hosts))
    server_cert = ca.issue_cert(*names)
    server_cert.configure_cert(context)
    ca_path = state_dir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(state_dir / "server.pem"))
    return TlsMaterial(context=context, ca_cert=ca_path)


def cert_hosts(host: str) -> tuple[str, ...]:
    """The names a generated certificate should cover when serving on ``host``."""
    names = ["127.0.0.1", "localhost", "::1"]
    if host not in ("", "0.0.0.0", "::") and host not in names:
        names.append(host)
    return tuple(names)
