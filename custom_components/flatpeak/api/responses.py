"""Reading the Flatpeak API's answers: JSON bodies, errors, ``Retry-After``.

Which exception an answer becomes is decided here, in one place:

- ``PUT``/``GET /devices/{id}…``: 400/422 reject the request for good
  (``FlatpeakValidationError``), 404 means the device does not exist
  (``FlatpeakNotFoundError``), 401 a refused token.
- Any endpoint: a 422 whose ``code`` says that no price is available
  (``PRICE_UNAVAILABLE_CODES``) is ``FlatpeakPriceUnavailableError``, and
  ``api_version_not_supported`` is ``FlatpeakApiVersionError``: neither is a
  verdict on the request, so neither is ``FlatpeakValidationError``.
- ``POST /auth/tokens`` never rejects a record: 401/403 are refused
  credentials, 404 means the URL is not Flatpeak's API
  (``FlatpeakApiUrlError``), anything else is retryable.
- Everywhere: 429 is ``FlatpeakRateLimitError``, 5xx ``FlatpeakServerError``,
  any other status a ``FlatpeakRetryableError``. Only 429 and 503 carry the
  parsed ``Retry-After`` (Flatpeak documents it for those two); a 500, 502 or
  504 asking for a wait is retried with the caller's backoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
import json
import re
from typing import Any

from .exceptions import (
    FlatpeakApiUrlError,
    FlatpeakApiVersionError,
    FlatpeakAuthenticationError,
    FlatpeakError,
    FlatpeakNotFoundError,
    FlatpeakPriceUnavailableError,
    FlatpeakRateLimitError,
    FlatpeakRetryableError,
    FlatpeakServerError,
    FlatpeakValidationError,
)

# A wild Retry-After (a day, 10**400 s, the year 9999) must not stop delivery.
MAX_RETRY_AFTER = 3600.0
# An error message longer than this is cut (it ends up in a state attribute).
MAX_MESSAGE_LENGTH = 300

# The statuses whose Retry-After is followed (Flatpeak: rate limit, maintenance).
RETRY_AFTER_STATUSES = frozenset({429, 503})

_ASCII_INTEGER = re.compile(r"-?[0-9]+")


def _http_date(value: str | None) -> datetime | None:
    """Return an HTTP date as an aware datetime, or ``None``."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


# 422 codes meaning "no price for this location and direction (yet)".
PRICE_UNAVAILABLE_CODES = frozenset(
    {"no_tariff_connected", "pending_connect", "no_price_data"}
)
# Flatpeak asks not to retry those more often than this (seconds).
PRICE_RETRY_INTERVAL = 900.0
API_VERSION_NOT_SUPPORTED = "api_version_not_supported"


def parse_retry_after(
    value: str | None,
    *,
    now: datetime,
    date: str | None = None,
    cap: float = MAX_RETRY_AFTER,
) -> float | None:
    """Parse ``Retry-After`` (ASCII delay-seconds or an HTTP date) into seconds.

    An HTTP date is read against ``date``, the answer's own ``Date`` header,
    when it is one (a server whose clock differs from ours), else against
    ``now``, the wall clock's time. The result is between 0 and ``cap``: a
    negative number or a moment in the past is 0 (the caller's floor applies);
    anything else (``²``, ``1.5``, a bad date) is ``None``.
    """
    if value is None or not (value := value.strip()):
        return None
    if _ASCII_INTEGER.fullmatch(value):
        seconds = float(value)  # inf for an absurdly long value, capped below
    elif (when := _http_date(value)) is not None:
        seconds = (when - (_http_date(date) or now)).total_seconds()
    else:
        return None
    return min(max(0.0, seconds), cap)


def decode_json(body: bytes | None) -> Any:
    """Return the JSON value of ``body``; raise ``ValueError`` if it has none.

    Works on bytes, so a body in the wrong charset is a ``ValueError`` like any
    other garbage, never an escaping ``UnicodeDecodeError``.
    """
    if not body:
        raise ValueError("empty body")
    try:
        return json.loads(body)
    except RecursionError:  # "[[[[…" nested deeper than the parser goes
        raise ValueError("JSON nested too deeply") from None


def decode_json_object(body: bytes | None) -> Mapping[str, Any]:
    """Return the JSON object in ``body``; raise ``TypeError``/``ValueError``."""
    data = decode_json(body)
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _envelope(status: int, body: bytes | None) -> tuple[str | None, str]:
    """Return the error envelope's ``code`` and ``message`` (or a default)."""
    code: str | None = None
    message = f"The Flatpeak API answered HTTP {status}"
    try:
        envelope = decode_json(body)
    except ValueError:
        return code, message
    if isinstance(envelope, Mapping):
        if isinstance(envelope.get("code"), str):
            code = envelope["code"][:MAX_MESSAGE_LENGTH]
        if isinstance(envelope.get("message"), str) and envelope["message"]:
            message = envelope["message"][:MAX_MESSAGE_LENGTH]
    return code, message


def error_from_response(
    status: int,
    body: bytes | None,
    retry_after: str | None,
    *,
    now: datetime,
    token_endpoint: bool,
    date: str | None = None,
) -> FlatpeakError:
    """Map a non-2xx answer and its error envelope to an exception.

    ``retry_after`` and ``date`` are the answer's headers of those names.
    """
    code, message = _envelope(status, body)
    if status == 422 and (outcome := _not_a_verdict(code, message)) is not None:
        return outcome
    if status == 401 or (token_endpoint and status == 403):
        return FlatpeakAuthenticationError(message, code=code, status=status)
    if status == 429 or status >= 500:
        kind = FlatpeakRateLimitError if status == 429 else FlatpeakServerError
        return kind(
            message,
            code=code,
            status=status,
            retry_after=parse_retry_after(retry_after, now=now, date=date)
            if status in RETRY_AFTER_STATUSES
            else None,
        )
    if token_endpoint:
        if status == 404:
            return FlatpeakApiUrlError(message, code=code, status=status)
    elif status == 404:
        return FlatpeakNotFoundError(message, code=code, status=status)
    elif status in (400, 422):
        return FlatpeakValidationError(message, code=code, status=status)
    return FlatpeakRetryableError(message, code=code, status=status)


def _not_a_verdict(code: str | None, message: str) -> FlatpeakError | None:
    """Return the error for a 422 that does not reject the request, if it is one."""
    if code in PRICE_UNAVAILABLE_CODES:
        return FlatpeakPriceUnavailableError(
            message, code=code, status=422, retry_after=PRICE_RETRY_INTERVAL
        )
    if code == API_VERSION_NOT_SUPPORTED:
        return FlatpeakApiVersionError(message, code=code, status=422)
    return None
