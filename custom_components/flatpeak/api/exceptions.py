"""Exceptions raised by the Flatpeak API client.

Every exception carries the API's machine-readable ``code`` and human-readable
``message`` when the API sent an error envelope. No exception ever carries the
secret key, the bearer token or an ``Authorization`` header.
"""

from __future__ import annotations


class FlatpeakError(Exception):
    """Base class for every error raised by the Flatpeak client."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        """Initialise the error with the API's message and code."""
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __repr__(self) -> str:
        """Return a representation without any request details."""
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r})"
        )


class FlatpeakApiUrlError(FlatpeakError):
    """The API URL is not Flatpeak's API (the token endpoint answered 404)."""


class FlatpeakConnectionError(FlatpeakError):
    """The API could not be reached (DNS, refused, reset)."""


class FlatpeakTimeoutError(FlatpeakConnectionError):
    """The API did not answer within the request timeout."""


class FlatpeakResponseError(FlatpeakError):
    """The API answered with something that is not the expected JSON."""


class FlatpeakAuthenticationError(FlatpeakError):
    """The credentials or the bearer token were refused (401/403)."""


class FlatpeakNotFoundError(FlatpeakError):
    """The requested resource (usually the device) does not exist (404)."""


class FlatpeakValidationError(FlatpeakError):
    """The API rejected the request body for good (400/422)."""


class FlatpeakRetryableError(FlatpeakError):
    """An error after which the same request may succeed later.

    Raised as such for an answer that is neither a verdict nor an outage (a
    400 from the token endpoint, a 409, a request aiohttp could not send).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Initialise the error with the parsed ``Retry-After`` in seconds."""
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class FlatpeakRateLimitError(FlatpeakRetryableError):
    """Too many requests (429); ``retry_after`` says how long to wait."""


class FlatpeakServerError(FlatpeakRetryableError):
    """The API failed (5xx) or is down for maintenance (503)."""


class FlatpeakPriceUnavailableError(FlatpeakRetryableError):
    """Flatpeak has no price for this location and direction yet (422).

    ``code`` says why: ``no_tariff_connected`` (no tariff for that location
    and direction), ``pending_connect`` (the tariff is still being connected)
    or ``no_price_data`` (the tariff's data is missing). An outcome of the
    read, not a verdict on a record; Flatpeak asks for no retry sooner than
    ``retry_after`` (15 minutes).
    """


class FlatpeakApiVersionError(FlatpeakError):
    """The account refuses the pinned ``Flatpeak-Version`` (422).

    ``api_version_not_supported``: the account's default version is newer
    than the one the client pins. Not a verdict on the request body.
    """
