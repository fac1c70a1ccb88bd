"""What the flows check before anything is saved: IDs, credentials and devices (live), mapping."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import re
from typing import TYPE_CHECKING, Any

from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant

from .. import create_client
from ..api import (
    DEFAULT_BASE_URL,
    Device,
    FlatpeakApiUrlError,
    FlatpeakAuthenticationError,
    FlatpeakConnectionError,
    FlatpeakError,
    FlatpeakNotFoundError,
    FlatpeakRateLimitError,
    FlatpeakServerError,
    FlatpeakTimeoutError,
    api_url_is_safe,
)
from ..const import (
    CONF_ACCOUNT_ID,
    CONF_API_URL,
    CONF_RESERVE_ENTITY,
    CONF_RESERVE_PERCENT,
    CONF_SECRET_KEY,
    CONF_TARGET_SOC_ENTITY,
    CONF_TARGET_SOC_PERCENT,
    DOMAIN,
    LOGGER,
)
from ..mapping.readings import mapping_problems
from .schemas import SECTION_ADVANCED

if TYPE_CHECKING:
    from ..account.runtime import FlatpeakConfigEntry

# A live check (a token, then the device) answers within this time.
VALIDATION_TIMEOUT = 10.0  # seconds
# Flatpeak's object IDs: a short lower-case prefix, "_", letters and digits.
FLATPEAK_ID = re.compile(r"^[a-z]{2,4}_[A-Za-z0-9]+$")
ID_ERRORS = {CONF_ACCOUNT_ID: "invalid_account_id", CONF_DEVICE_ID: "invalid_device_id"}


def credentials_from_form(
    user_input: Mapping[str, Any], stored: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge a credentials form (the API URL sits in its section) into entry data.

    Values are trimmed; an empty secret key keeps the ``stored`` one.
    """
    data = {**stored, **user_input}
    data.update(data.pop(SECTION_ADVANCED, {}))
    for key in (CONF_ACCOUNT_ID, CONF_SECRET_KEY, CONF_API_URL):
        if isinstance(data.get(key), str):
            data[key] = data[key].strip()
    if not data.get(CONF_SECRET_KEY) and stored.get(CONF_SECRET_KEY):
        data[CONF_SECRET_KEY] = stored[CONF_SECRET_KEY]
    data[CONF_API_URL] = (data.get(CONF_API_URL) or DEFAULT_BASE_URL).rstrip("/")
    return data


def credentials_form_values(
    data: Mapping[str, Any], errors: Mapping[str, str], user_input: Mapping[str, Any]
) -> dict[str, Any]:
    """Return what the credentials form shows again.

    A secret key the user typed is kept after an error that is not about it, so
    that a typo in the device ID does not mean typing the key again; a stored
    secret key is never sent to the form.
    """
    values: dict[str, Any] = (
        {CONF_ACCOUNT_ID: data[CONF_ACCOUNT_ID]} if CONF_ACCOUNT_ID in data else {}
    )
    typed = str(user_input.get(CONF_SECRET_KEY) or "").strip()
    if typed and CONF_SECRET_KEY not in errors:
        values[CONF_SECRET_KEY] = typed
    values[SECTION_ADVANCED] = {CONF_API_URL: data.get(CONF_API_URL, DEFAULT_BASE_URL)}
    return values


def form_errors(errors: Mapping[str, str], fields: Any) -> dict[str, str]:
    """Key errors by the form's fields: the API URL's by its section, others by base."""
    shown: dict[str, str] = {}
    for key, error in errors.items():
        if key == CONF_API_URL:
            key = SECTION_ADVANCED
        shown[key if key in fields else "base"] = error
    return shown


# Errors whose message asks to check the API URL: the section holding it opens.
URL_BASE_ERRORS = frozenset({"cannot_connect", "timeout"})


def opens_advanced(errors: Mapping[str, str]) -> bool:
    """Return whether a credentials form with ``errors`` shows its API URL.

    The URL's own errors sit on its section; "cannot connect" and "timeout"
    ask to check the URL too, which must then be in sight.
    """
    return SECTION_ADVANCED in errors or errors.get("base") in URL_BASE_ERRORS


def id_errors(data: Mapping[str, Any], *keys: str) -> dict[str, str]:
    """Return the errors of the IDs ``keys`` of ``data`` that are not Flatpeak IDs."""
    return {
        key: ID_ERRORS[key]
        for key in keys
        if not FLATPEAK_ID.fullmatch(str(data.get(key, "")))
    }


def entry_of_device(hass: HomeAssistant, device_id: str) -> FlatpeakConfigEntry | None:
    """Return the account entry that has the Flatpeak device ``device_id``, if any."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        for subentry in entry.subentries.values():
            if subentry.unique_id == device_id:
                return entry
    return None


# What a failed live check means, first match wins: (exception, field, error).
LIVE_ERRORS: tuple[tuple[type[Exception], str, str], ...] = (
    (FlatpeakAuthenticationError, CONF_SECRET_KEY, "invalid_auth"),
    (FlatpeakApiUrlError, CONF_API_URL, "wrong_api_url"),
    (FlatpeakNotFoundError, CONF_DEVICE_ID, "device_not_found"),
    (FlatpeakRateLimitError, "base", "rate_limited"),
    (TimeoutError, "base", "timeout"),
    (FlatpeakTimeoutError, "base", "timeout"),
    (FlatpeakConnectionError, "base", "cannot_connect"),
    (FlatpeakServerError, "base", "cannot_connect"),
)


async def _live_check(
    hass: HomeAssistant, data: Mapping[str, Any], device_id: str | None
) -> Device | None:
    """Get a token, then look the device up (if any), within ``VALIDATION_TIMEOUT``."""
    client = create_client(hass, data, timeout=VALIDATION_TIMEOUT)
    async with asyncio.timeout(VALIDATION_TIMEOUT):
        try:
            await client.authenticate()
        except FlatpeakNotFoundError as err:
            # No token endpoint: the URL is not Flatpeak's API.
            raise FlatpeakApiUrlError(err.message, status=err.status) from None
        return None if device_id is None else await client.get_device(device_id)


async def _validate(
    hass: HomeAssistant, data: Mapping[str, Any], device_id: str | None
) -> tuple[Device | None, dict[str, str]]:
    """Check the credentials (and the device) live; return the errors by field."""
    try:
        return await _live_check(hass, data, device_id), {}
    except Exception as err:  # noqa: BLE001
        for kind, field, error in LIVE_ERRORS:
            if isinstance(err, kind):
                return None, {field: error}
        if isinstance(err, FlatpeakError):
            LOGGER.error("Unexpected answer from the Flatpeak API: %s", err.message)
        else:
            LOGGER.exception("Unexpected error while checking with Flatpeak")
    return None, {"base": "unknown"}


async def validate_credentials(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> dict[str, str]:
    """Check the URL, then get a token live (the flow checked the account ID).

    Return the errors keyed by entry-data field (or ``base``).
    """
    if not api_url_is_safe(data[CONF_API_URL]):
        return {CONF_API_URL: "invalid_url"}
    _, errors = await _validate(hass, data, None)
    return errors


async def validate_device(
    hass: HomeAssistant, account: Mapping[str, Any], device_id: str
) -> tuple[Device | None, dict[str, str]]:
    """Check a device ID, then look it up live with the ``account``'s credentials.

    Return the device, or the errors keyed by field (``device_id``, ``base``).
    """
    if errors := id_errors({CONF_DEVICE_ID: device_id}, CONF_DEVICE_ID):
        return None, errors
    return await _validate(hass, account, device_id)


def validate_mapping(hass: HomeAssistant, mapping: Mapping[str, Any]) -> dict[str, str]:
    """Return the form errors of a mapping the coordinator could not use."""
    errors = mapping_problems(hass, mapping)
    target = (CONF_TARGET_SOC_ENTITY in mapping, CONF_TARGET_SOC_PERCENT in mapping)
    if all(target):
        errors[CONF_TARGET_SOC_ENTITY] = "entity_or_value"
    elif not any(target):
        errors[CONF_TARGET_SOC_ENTITY] = "target_required"
    if CONF_RESERVE_ENTITY in mapping and CONF_RESERVE_PERCENT in mapping:
        errors[CONF_RESERVE_ENTITY] = "entity_or_value"
    return errors
