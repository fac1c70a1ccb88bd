"""What an account reads back from Flatpeak: its coordinators, per device and location.

``AccountReads`` exists when the account's option "Read prices and programme
from Flatpeak" is on (off: no read request at all). Each device gets its state
and VPP reads; each location of the account's devices gets its location and
price reads, once however many devices are there. A device's location is the
first of Flatpeak's ``locations`` for it, from the lookup at start; when that
lookup failed, the device is looked up again (15 min, doubling up to 2 h)
until its location is known. Nothing here delays delivery: the first reads run
in the background after setup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from ..account.issues import async_delete_read_issues
from ..api import Device, FlatpeakAuthenticationError, FlatpeakError, TariffDirection
from ..const import (
    CONF_READ_FROM_FLATPEAK,
    DEFAULT_READ_FROM_FLATPEAK,
    DOMAIN,
    PRICE_READ_INTERVAL,
)
from ..coordinator import (
    DeviceStateCoordinator,
    LocationCoordinator,
    PriceCoordinator,
    VppCoordinator,
)
from ..delivery.errors import classify
from .policy import retry_interval

if TYPE_CHECKING:
    from ..account.account import FlatpeakAccount
    from ..account.runtime import FlatpeakConfigEntry, FlatpeakRuntimeData

PRICE_DIRECTIONS = (TariffDirection.IMPORT, TariffDirection.EXPORT)
# The unique IDs of the read entities end with these (their keys).
READ_ENTITY_KEYS = (
    "state_at_flatpeak",
    "vpp_participation",
    "telemetry_active",
    "dispatchable",
    "import_price",
    "export_price",
)


def reads_enabled(entry: FlatpeakConfigEntry) -> bool:
    """Return whether the account reads from Flatpeak (its option)."""
    return bool(entry.options.get(CONF_READ_FROM_FLATPEAK, DEFAULT_READ_FROM_FLATPEAK))


def location_signal(entry_id: str) -> str:
    """Return the dispatcher signal of a location the account starts reading."""
    return f"{DOMAIN}_{entry_id}_location"


@dataclass(slots=True)
class DeviceReads:
    """The reads of one device."""

    state: DeviceStateCoordinator
    vpp: VppCoordinator
    location_id: str | None = None


@dataclass(slots=True)
class LocationReads:
    """The reads of one location, shared by the account's devices there."""

    location: LocationCoordinator
    prices: dict[TariffDirection, PriceCoordinator]
    subentry_ids: set[str] = field(default_factory=set)

    async def async_refresh(self) -> None:
        """Read the location, then its prices (which do not need it)."""
        await self.location.async_refresh()
        for prices in self.prices.values():
            await prices.async_refresh()

    @callback
    def location_read(self) -> None:
        """Read the prices at once when the location's read succeeds again.

        While it failed, the prices were not asked (``PriceCoordinator``).
        """
        if not self.location.last_update_success:
            return
        for prices in self.prices.values():
            if not prices.last_update_success:
                self.location.config_entry.async_create_background_task(
                    prices.hass, prices.async_request_refresh(), f"{prices.name}"
                )

    @property
    def coordinators(self) -> list[DataUpdateCoordinator[Any]]:
        """Return the location's coordinator and its price coordinators."""
        return [self.location, *self.prices.values()]

    @property
    def currency(self) -> str | None:
        """Return the location's currency, from the location or a price answer."""
        if self.location.data is not None and self.location.data.currency_code:
            return self.location.data.currency_code
        return next(
            (
                prices.series.currency_code
                for prices in self.prices.values()
                if prices.series is not None and prices.series.currency_code
            ),
            None,
        )


class AccountReads:
    """Every read coordinator of an account; none reads before ``async_start``."""

    def __init__(self, hass: HomeAssistant, account: FlatpeakAccount) -> None:
        """Read for ``account``'s devices."""
        self.hass = hass
        self.account = account
        self.devices: dict[str, DeviceReads] = {}  # by subentry ID
        self.locations: dict[str, LocationReads] = {}  # by location ID
        self._lookups: dict[str, int] = {}  # failed lookups of a device, by subentry

    def add_device(self, runtime: FlatpeakRuntimeData) -> None:
        """Read ``runtime``'s device, and its location if the lookup found it."""
        subentry_id = runtime.context.subentry_id
        reads = self.devices[subentry_id] = DeviceReads(
            state=DeviceStateCoordinator(self.hass, self.account, runtime),
            vpp=VppCoordinator(self.hass, self.account, runtime),
        )
        _keep_reading(reads.state)
        _keep_reading(reads.vpp)
        if runtime.device is not None and runtime.device.locations:
            self._attach(subentry_id, runtime.device.locations[0])

    def _attach(self, subentry_id: str, location_id: str) -> LocationReads:
        """Put a device at a location; start reading the location if it is new."""
        self.devices[subentry_id].location_id = location_id
        if (reads := self.locations.get(location_id)) is None:
            reads = self.locations[location_id] = LocationReads(
                location=LocationCoordinator(self.hass, self.account, location_id),
                prices={},
            )
            reads.prices = {
                direction: PriceCoordinator(
                    self.hass, self.account, reads.location, direction
                )
                for direction in PRICE_DIRECTIONS
            }
            for coordinator in reads.coordinators:
                _keep_reading(coordinator)
            self.account.entry.async_on_unload(
                reads.location.async_add_listener(reads.location_read)
            )
        reads.subentry_ids.add(subentry_id)
        return reads

    async def async_start(self) -> None:
        """Do every first read (a background task: setup does not wait)."""
        for reads in self.locations.values():
            await reads.async_refresh()
        for subentry_id, device in self.devices.items():
            await device.state.async_refresh()
            await device.vpp.async_refresh()
            if device.location_id is None:
                await self._async_look_up(subentry_id)

    async def _async_look_up(self, subentry_id: str) -> None:
        """Find the location of a device whose lookup at start failed.

        Not while Flatpeak refuses the account's credentials (the account
        rechecks them); a 401 here is the account's, as on any read.
        """
        runtime = self.account.devices[subentry_id]
        device: Device | None = None
        if self.account.credentials_refused_verdict is None:
            try:
                device = await runtime.async_flatpeak_device()
            except FlatpeakAuthenticationError as err:
                self.account.credentials_refused(classify(err))
            except (FlatpeakError, ValueError) as err:
                runtime.context.log.debug("Cannot look its location up: %s", err)
        if device is None:
            failures = self._lookups[subentry_id] = (
                self._lookups.get(subentry_id, 0) + 1
            )
            self._retry_look_up(subentry_id, failures)
            return
        if not device.locations:
            return
        reads = self._attach(subentry_id, device.locations[0])
        async_dispatcher_send(
            self.hass, location_signal(self.account.entry.entry_id), reads
        )
        await reads.async_refresh()

    def _retry_look_up(self, subentry_id: str, failures: int) -> None:
        wait = retry_interval(failures, PRICE_READ_INTERVAL).total_seconds()

        @callback
        def again(_now: datetime) -> None:
            self.account.entry.async_create_background_task(
                self.hass, self._async_look_up(subentry_id), "flatpeak device location"
            )

        self.account.entry.async_on_unload(async_call_later(self.hass, wait, again))


def _keep_reading(coordinator: DataUpdateCoordinator[Any]) -> None:
    """Read on schedule whether or not an entity listens.

    A coordinator schedules its reads only while someone listens; it shuts
    down at unload.
    """
    coordinator.async_add_listener(_nothing)


@callback
def _nothing() -> None:
    """Listen to a coordinator without doing anything."""


@callback
def async_remove_read_entities(
    hass: HomeAssistant, entry: FlatpeakConfigEntry, keep: set[str] | None
) -> None:
    """Remove read entities and location devices not read (any more).

    ``keep``: the location IDs still read, or ``None`` when reads are off
    (then every read entity and location device goes, with the read issues).
    """
    registry = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if not entity.unique_id.endswith(READ_ENTITY_KEYS):
            continue
        location = entity.unique_id.rsplit("_", 2)[0]
        if keep is None or (
            entity.unique_id.endswith(("import_price", "export_price"))
            and location not in keep
        ):
            registry.async_remove(entity.entity_id)
    devices = dr.async_get(hass)
    battery_ids = {
        (DOMAIN, subentry.data[CONF_DEVICE_ID])
        for subentry in entry.subentries.values()
        if CONF_DEVICE_ID in subentry.data
    }
    for device in dr.async_entries_for_config_entry(devices, entry.entry_id):
        if device.identifiers & battery_ids:
            continue
        if keep is None or not any(i[1] in keep for i in device.identifiers):
            devices.async_update_device(
                device.id, remove_config_entry_id=entry.entry_id
            )
    async_delete_read_issues(hass, entry.entry_id, keep)
