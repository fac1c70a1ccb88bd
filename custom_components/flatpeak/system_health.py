"""System information (Settings → System → Repairs → System information)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from homeassistant.components import system_health
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback

from .account.runtime import FlatpeakConfigEntry
from .api import DEFAULT_BASE_URL
from .const import CONF_API_URL, DOMAIN


@callback
def async_register(
    hass: HomeAssistant, register: system_health.SystemHealthRegistration
) -> None:
    """Register the information callback."""
    register.async_register_info(system_health_info)


async def system_health_info(hass: HomeAssistant) -> dict[str, Any]:
    """Return whether the API answers, and each loaded account's delivery.

    With several accounts, each value lists the accounts by title; with
    several API URLs (a test account on a sandbox), each is checked.
    """
    entries: list[FlatpeakConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    urls = sorted({entry.data.get(CONF_API_URL, DEFAULT_BASE_URL) for entry in entries})
    loaded = [entry for entry in entries if entry.state is ConfigEntryState.LOADED]
    return {
        "api_endpoint_reachable": _reachable(hass, urls or [DEFAULT_BASE_URL]),
        "devices": _per_account(
            loaded, lambda entry: len(entry.runtime_data.devices), empty=0
        ),
        "queued_records": _per_account(
            loaded,
            lambda entry: sum(
                len(device.outbox) for device in entry.runtime_data.devices.values()
            ),
            empty=0,
        ),
        "last_submission": _per_account(loaded, _last_submission),
    }


def _last_submission(entry: FlatpeakConfigEntry) -> datetime | None:
    """Return the newest submission Flatpeak accepted from the account's devices."""
    return max(
        (
            success
            for device in entry.runtime_data.devices.values()
            if (success := device.status.current.last_success) is not None
        ),
        default=None,
    )


def _per_account(
    entries: list[FlatpeakConfigEntry],
    value: Callable[[FlatpeakConfigEntry], int | datetime | None],
    *,
    empty: int | str = "-",
) -> int | datetime | str:
    """Return one account's value as it is; several accounts' as a list by title."""
    if not entries:
        return empty
    if len(entries) == 1:
        return "-" if (single := value(entries[0])) is None else single
    return ", ".join(f"{entry.title}: {_text(value(entry))}" for entry in entries)


def _text(value: int | datetime | None) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return "-" if value is None else str(value)


def _reachable(hass: HomeAssistant, urls: list[str]) -> Awaitable[str | dict[str, str]]:
    """Return Home Assistant's check of the URL; of several, the first that fails."""
    if len(urls) == 1:
        return system_health.async_check_can_reach_url(hass, urls[0])

    async def _all() -> str | dict[str, str]:
        for url in urls:
            result = await system_health.async_check_can_reach_url(hass, url)
            if isinstance(result, dict):
                return {"type": "failed", "error": f"{url}: {result['error']}"}
        return "ok"

    return _all()
