"""A local stand-in for the Flatpeak API, for tests and the demo."""

from .schema import DEVICE_STATE_SUBMIT_SCHEMA, SchemaError, validate_device_state
from .server import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_DEVICE_ID,
    DEFAULT_SECRET_KEY,
    DEMO_DEVICES,
    DEVICE_LOCATIONS,
    FlatpeakSandbox,
    RequestRecord,
    StoredState,
)

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_DEVICE_ID",
    "DEFAULT_SECRET_KEY",
    "DEMO_DEVICES",
    "DEVICE_LOCATIONS",
    "DEVICE_STATE_SUBMIT_SCHEMA",
    "FlatpeakSandbox",
    "RequestRecord",
    "SchemaError",
    "StoredState",
    "validate_device_state",
]
