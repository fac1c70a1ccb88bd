"""Which API URLs the client accepts, and how it builds request paths."""

from __future__ import annotations

import ipaddress
from urllib.parse import quote

from yarl import URL


def api_url_is_safe(url: str) -> bool:
    """Return whether credentials may be sent to ``url``.

    Only ``https://`` is accepted, except ``http://`` to a loopback host (the
    local sandbox): credentials never cross a network in clear text.
    """
    try:
        parsed = URL(url)
    except ValueError:
        return False
    if not parsed.host or parsed.user or parsed.password or parsed.query_string:
        return False
    if parsed.scheme == "https":
        return True
    if parsed.scheme != "http":
        return False
    if parsed.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(parsed.host).is_loopback
    except ValueError:
        return False


def join_path(base: URL, *segments: str) -> URL:
    """Append ``segments`` to ``base``, each one exactly one path segment.

    Every segment is percent-encoded (a ``/``, ``?`` or ``#`` in a device ID
    stays inside its segment); an empty segment, ``.`` or ``..`` raises
    ``ValueError``, so no ID can ever change which endpoint is called.
    """
    for segment in segments:
        if not isinstance(segment, str) or segment in ("", ".", ".."):
            raise ValueError(f"Unusable path segment: {segment!r}")
    return base.joinpath(*(quote(s, safe="") for s in segments), encoded=True)
