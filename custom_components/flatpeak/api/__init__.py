"""Async client for the Flatpeak API.

This package has no Home Assistant imports: it could be published on PyPI as-is.
"""

from .client import DEFAULT_BASE_URL, FlatpeakClient, __version__
from .exceptions import (
    FlatpeakApiUrlError,
    FlatpeakAuthenticationError,
    FlatpeakConnectionError,
    FlatpeakError,
    FlatpeakNotFoundError,
    FlatpeakRateLimitError,
    FlatpeakResponseError,
    FlatpeakRetryableError,
    FlatpeakServerError,
    FlatpeakTimeoutError,
    FlatpeakValidationError,
)
from .models import Device, DeviceState, DeviceStateRecord, EnergyFlowDirection
from .responses import MAX_RETRY_AFTER, parse_retry_after
from .urls import api_url_is_safe

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_RETRY_AFTER",
    "Device",
    "DeviceState",
    "DeviceStateRecord",
    "EnergyFlowDirection",
    "FlatpeakApiUrlError",
    "FlatpeakAuthenticationError",
    "FlatpeakClient",
    "FlatpeakConnectionError",
    "FlatpeakError",
    "FlatpeakNotFoundError",
    "FlatpeakRateLimitError",
    "FlatpeakResponseError",
    "FlatpeakRetryableError",
    "FlatpeakServerError",
    "FlatpeakTimeoutError",
    "FlatpeakValidationError",
    "__version__",
    "api_url_is_safe",
    "parse_retry_after",
]
