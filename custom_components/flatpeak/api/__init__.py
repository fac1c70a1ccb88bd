"""Async client for the Flatpeak API.

This package has no Home Assistant imports: it could be published on PyPI as-is.
"""

from .client import API_VERSION, DEFAULT_BASE_URL, FlatpeakClient, __version__
from .exceptions import (
    FlatpeakApiUrlError,
    FlatpeakApiVersionError,
    FlatpeakAuthenticationError,
    FlatpeakConnectionError,
    FlatpeakError,
    FlatpeakNotFoundError,
    FlatpeakPriceUnavailableError,
    FlatpeakRateLimitError,
    FlatpeakResponseError,
    FlatpeakRetryableError,
    FlatpeakServerError,
    FlatpeakTimeoutError,
    FlatpeakValidationError,
)
from .models import Device, DeviceState, DeviceStateRecord, EnergyFlowDirection
from .price_models import (
    PriceSeries,
    PriceSlot,
    Schedule,
    ScheduleSegment,
    ScheduleSlot,
    TariffDirection,
)
from .read_models import (
    KNOWN_VPP_STATES,
    DeviceStateReading,
    Location,
    TariffLink,
    VppParticipation,
    VppStateEntry,
)
from .reads import MAX_PRICE_WINDOW, MAX_SCHEDULE_WINDOW
from .responses import (
    MAX_RETRY_AFTER,
    PRICE_RETRY_INTERVAL,
    PRICE_UNAVAILABLE_CODES,
    parse_retry_after,
)
from .urls import api_url_is_safe

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "KNOWN_VPP_STATES",
    "MAX_PRICE_WINDOW",
    "MAX_RETRY_AFTER",
    "MAX_SCHEDULE_WINDOW",
    "PRICE_RETRY_INTERVAL",
    "PRICE_UNAVAILABLE_CODES",
    "Device",
    "DeviceState",
    "DeviceStateReading",
    "DeviceStateRecord",
    "EnergyFlowDirection",
    "FlatpeakApiUrlError",
    "FlatpeakApiVersionError",
    "FlatpeakAuthenticationError",
    "FlatpeakClient",
    "FlatpeakConnectionError",
    "FlatpeakError",
    "FlatpeakNotFoundError",
    "FlatpeakPriceUnavailableError",
    "FlatpeakRateLimitError",
    "FlatpeakResponseError",
    "FlatpeakRetryableError",
    "FlatpeakServerError",
    "FlatpeakTimeoutError",
    "FlatpeakValidationError",
    "Location",
    "PriceSeries",
    "PriceSlot",
    "Schedule",
    "ScheduleSegment",
    "ScheduleSlot",
    "TariffDirection",
    "TariffLink",
    "VppParticipation",
    "VppStateEntry",
    "__version__",
    "api_url_is_safe",
    "parse_retry_after",
]
