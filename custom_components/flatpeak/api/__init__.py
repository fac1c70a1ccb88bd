"""Async client for the Flatpeak API.

This package has no Home Assistant imports: it could be published on PyPI as-is.
"""

from .client import (
    DEFAULT_BASE_URL,
    FlatpeakClient,
    __version__,
    api_url_is_safe,
    parse_retry_after,
)
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

__all__ = [
    "DEFAULT_BASE_URL",
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
