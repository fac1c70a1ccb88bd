"""What a failure means for delivery, and its translation for the user.

Two jobs, each in one place: ``classify`` reads any exception raised while
submitting a record (Flatpeak's errors, and anything unexpected) into a
``Verdict``; ``to_home_assistant_error`` turns the domain errors the action and
the button meet into Home Assistant's translated errors, ``read_failure``
says in words why a read failed, and ``validation_error`` is an action's
refusal of what it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util

from ..api import (
    FlatpeakApiUrlError,
    FlatpeakAuthenticationError,
    FlatpeakConnectionError,
    FlatpeakError,
    FlatpeakNotFoundError,
    FlatpeakPriceUnavailableError,
    FlatpeakRateLimitError,
    FlatpeakRetryableError,
    FlatpeakServerError,
    FlatpeakTimeoutError,
    FlatpeakValidationError,
)
from ..const import (
    DOMAIN,
    RETRY_AFTER_MAX,
    RETRY_AFTER_MIN,
    ErrorCode,
    SubmissionStatus,
)
from ..mapping.readings import SnapshotError


class Action(StrEnum):
    """What the sender does with the record after a failure."""

    REJECT = "reject"  # Flatpeak refused this record for good: drop and count it
    PAUSE = "pause"  # only the user can fix it (credentials, device, URL)
    RETRY = "retry"  # it may pass later: keep the record, wait, try again


@dataclass(frozen=True, slots=True)
class Verdict:
    """A failure, read for the sender and the status entities."""

    action: Action
    code: ErrorCode
    status: SubmissionStatus
    connected: bool | None
    message: str | None = None  # Flatpeak's own words, when it answered
    retry_after: float | None = None  # seconds, within the floor and the cap


# What each Flatpeak error means, first match wins:
# (exception, action, last-error code, status, whether Flatpeak answered).
OUTCOMES: tuple[
    tuple[type[FlatpeakError], Action, ErrorCode, SubmissionStatus, bool], ...
] = (
    (
        FlatpeakValidationError,
        Action.REJECT,
        ErrorCode.REJECTED,
        SubmissionStatus.INVALID_DATA,
        True,
    ),
    (
        FlatpeakAuthenticationError,
        Action.PAUSE,
        ErrorCode.AUTH_FAILED,
        SubmissionStatus.AUTH_FAILED,
        True,
    ),
    (
        FlatpeakApiUrlError,
        Action.PAUSE,
        ErrorCode.WRONG_API_URL,
        SubmissionStatus.WRONG_API_URL,
        False,
    ),
    (
        FlatpeakNotFoundError,
        Action.PAUSE,
        ErrorCode.DEVICE_NOT_FOUND,
        SubmissionStatus.ERROR,
        True,
    ),
    (
        FlatpeakRateLimitError,
        Action.RETRY,
        ErrorCode.RATE_LIMITED,
        SubmissionStatus.RATE_LIMITED,
        True,
    ),
    (
        FlatpeakServerError,
        Action.RETRY,
        ErrorCode.SERVER_ERROR,
        SubmissionStatus.ERROR,
        False,
    ),
    (
        FlatpeakTimeoutError,
        Action.RETRY,
        ErrorCode.TIMEOUT,
        SubmissionStatus.ERROR,
        False,
    ),
    (
        FlatpeakConnectionError,
        Action.RETRY,
        ErrorCode.CANNOT_CONNECT,
        SubmissionStatus.ERROR,
        False,
    ),
    (
        FlatpeakError,
        Action.RETRY,
        ErrorCode.UNEXPECTED_RESPONSE,
        SubmissionStatus.ERROR,
        True,
    ),
)


def _message(err: FlatpeakError) -> str | None:
    """Return Flatpeak's message when the API answered (never a client detail)."""
    return err.message if err.status is not None else None


def classify(err: BaseException) -> Verdict:
    """Read a failure of ``PUT /devices/{id}/state`` (or of its token request).

    Only a PUT answered 400/422 rejects the record (the client guarantees that
    the token endpoint never raises ``FlatpeakValidationError``). Anything not
    foreseen is retryable: the delivery loop never dies. A ``Retry-After``
    (the client keeps it for 429 and 503 only) is held between
    ``RETRY_AFTER_MIN`` and ``RETRY_AFTER_MAX``: 0 is never "at once".
    """
    if not isinstance(err, FlatpeakError):
        return Verdict(
            Action.RETRY, ErrorCode.UNEXPECTED_RESPONSE, SubmissionStatus.ERROR, None
        )
    action, code, status, connected = next(
        outcome[1:] for outcome in OUTCOMES if isinstance(err, outcome[0])
    )
    retry_after = (
        min(RETRY_AFTER_MAX, max(RETRY_AFTER_MIN, err.retry_after))
        if isinstance(err, FlatpeakRetryableError) and err.retry_after is not None
        else None
    )
    return Verdict(action, code, status, connected, _message(err), retry_after)


def describe(verdict: Verdict) -> str:
    """Return the verdict in words for a log line or an error message."""
    text = verdict.code.value.replace("_", " ")
    return f"{text}: {verdict.message}" if verdict.message else text


class SubmissionError(Exception):
    """A submission the action or the button asked for did not reach Flatpeak.

    A domain error: ``to_home_assistant_error`` translates it at the boundary.
    """

    def __init__(self, key: str, **placeholders: str) -> None:
        """Record the translation key and its placeholders."""
        super().__init__(key)
        self.translation_key = key
        self.translation_placeholders = placeholders


# What a record queued during a pause waits for: the user's fix (one message each).
QUEUED_UNTIL_FIXED: dict[ErrorCode, str] = {
    ErrorCode.AUTH_FAILED: "submission_queued_auth_failed",
    ErrorCode.DEVICE_NOT_FOUND: "submission_queued_device_not_found",
    ErrorCode.WRONG_API_URL: "submission_queued_wrong_api_url",
}


def queued_error(paused_for: ErrorCode | None, due: datetime | None) -> SubmissionError:
    """Say that a record is queued, and when it will be tried.

    Paused: after the user fixes ``paused_for``. Else at ``due``, the next
    attempt (now when none is planned), in local time.
    """
    if paused_for in QUEUED_UNTIL_FIXED:
        return SubmissionError(QUEUED_UNTIL_FIXED[paused_for])
    when = dt_util.as_local(due or dt_util.utcnow())
    return SubmissionError("submission_queued", time=when.strftime("%H:%M:%S"))


def to_home_assistant_error(
    err: SubmissionError | SnapshotError,
) -> HomeAssistantError:
    """Translate a domain error for the user (the only place that does)."""
    error_class = (
        ServiceValidationError if isinstance(err, SnapshotError) else HomeAssistantError
    )
    return error_class(
        translation_domain=DOMAIN,
        translation_key=err.translation_key,
        translation_placeholders=err.translation_placeholders,
    )


def validation_error(key: str, **placeholders: str) -> ServiceValidationError:
    """Return an action's translated refusal of what it was given."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


# A 422 saying that Flatpeak has no price (yet): its message for the user.
PRICE_UNAVAILABLE_KEYS: dict[str, str] = {
    "no_tariff_connected": "no_tariff_connected",
    "pending_connect": "tariff_pending",
    "no_price_data": "no_price_data",
}


def read_failure(err: BaseException, direction: str = "") -> tuple[str, dict[str, str]]:
    """Return the translation key and placeholders of a failed read.

    A price read (prices, schedules) of ``direction`` (``IMPORT``/``EXPORT``)
    that Flatpeak answered "no tariff", "pending" or "no price data" says
    so; anything else is ``read_<code>`` of its ``classify`` verdict with
    Flatpeak's message (or what went wrong) in ``message``.
    """
    placeholders = {"direction": direction}
    if (
        isinstance(err, FlatpeakPriceUnavailableError)
        and err.code in PRICE_UNAVAILABLE_KEYS
    ):
        return PRICE_UNAVAILABLE_KEYS[err.code], placeholders
    verdict = classify(err)
    return f"read_{verdict.code}", {**placeholders, "message": describe(verdict)}
