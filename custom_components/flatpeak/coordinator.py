"""The reads of what Flatpeak holds: one ``DataUpdateCoordinator`` per concern.

Per device: the newest state Flatpeak holds (``DeviceStateCoordinator``) and
its VPP participations (``VppCoordinator``). Per location, shared by the
account's devices there: the location (``LocationCoordinator``) and the prices
of each direction (``PriceCoordinator``). They share the account's client and
token. A read never touches delivery (outbox, sender, the submission status),
with two exceptions: refused credentials are the account's (one
re-authentication for everything), and the state read tells the status whether
Flatpeak lags what it accepted. When each reads is in ``const.py`` (the budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, override

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .account.device import READ_LOGGER
from .account.issues import async_update_tariff_issue, async_update_telemetry_issue
from .api import (
    DeviceStateReading,
    FlatpeakAuthenticationError,
    FlatpeakError,
    FlatpeakPriceUnavailableError,
    FlatpeakRetryableError,
    Location,
    PriceSeries,
    TariffDirection,
    VppParticipation,
)
from .const import (
    DOMAIN,
    PRICE_READ_INTERVAL,
    PRICE_READ_INTERVAL_SHORT,
    READ_RETRY_MIN,
    STATE_READ_INTERVAL,
    VPP_READ_INTERVAL,
)
from .delivery.errors import classify, describe
from .reads.policy import (
    accepted_time,
    current_participation,
    lags,
    price_interval,
    price_window,
    retry_interval,
)
from .reads.slot_timer import SlotTimer

if TYPE_CHECKING:
    from .account.account import FlatpeakAccount
    from .account.runtime import FlatpeakConfigEntry, FlatpeakRuntimeData


class FlatpeakReadCoordinator[DataT](DataUpdateCoordinator[DataT]):
    """One read of one concern, on the account's client.

    Entities hear of a change only (``always_update=False``). After a failure
    the next read waits ``retry_interval`` (15 min, doubling up to
    ``interval``), then the concern's own interval again. While Flatpeak
    refuses the account's credentials nothing is asked; a 401 on a read
    starts the account's re-authentication. A longer ``Retry-After`` (429,
    503) is obeyed.
    """

    config_entry: FlatpeakConfigEntry
    interval: timedelta  # the concern's own interval between reads
    retry_min: timedelta = READ_RETRY_MIN  # the shortest wait after a failure
    failure_key: str  # the translation key of its UpdateFailed

    def __init__(
        self, hass: HomeAssistant, account: FlatpeakAccount, name: str
    ) -> None:
        """Read for ``account`` (its client, its credentials)."""
        super().__init__(
            hass,
            READ_LOGGER,
            config_entry=account.entry,
            name=name,
            update_interval=self.interval,
            always_update=False,
        )
        self.account = account
        self.client = account.client
        self.failures = 0
        self.last_error: str | None = None  # for diagnostics

    @override
    async def _async_update_data(self) -> DataT:
        """Read; on failure, raise a translated ``UpdateFailed`` and wait longer."""
        if (refused := self.account.credentials_refused_verdict) is not None:
            raise self._failed(describe(refused))
        try:
            data = await self._async_read()
        except FlatpeakAuthenticationError as err:
            self.account.credentials_refused(classify(err))
            raise self._failed(describe(classify(err))) from err
        except FlatpeakRetryableError as err:
            raise self._failed(describe(classify(err)), err.retry_after) from err
        except FlatpeakError as err:
            raise self._failed(describe(classify(err))) from err
        except ValueError as err:
            raise self._failed(describe(classify(err))) from err
        self.failures = 0
        self.last_error = None
        self.update_interval = self._interval_after(data)
        return data

    def _failed(self, error: str, retry_after: float | None = None) -> UpdateFailed:
        """Count a failure; wait ``retry_interval``, or longer if Flatpeak asks."""
        self.failures += 1
        self.last_error = error
        wait = max(self.retry_min, retry_interval(self.failures, self.interval))
        if retry_after is not None and retry_after > wait.total_seconds():
            wait = timedelta(seconds=retry_after)  # a 429's or 503's Retry-After
        self.update_interval = wait
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=self.failure_key,
            translation_placeholders={"error": error},
        )

    async def _async_read(self) -> DataT:
        """Ask Flatpeak (the subclass's one job)."""
        raise NotImplementedError

    def _interval_after(self, data: DataT) -> timedelta | None:
        """Return when to read again after ``data`` came."""
        return self.interval


class DeviceStateCoordinator(FlatpeakReadCoordinator[DeviceStateReading | None]):
    """The newest state Flatpeak holds of a device (``GET /devices/{id}/state``).

    Read only when a record was accepted since the last read: otherwise the
    answer cannot have changed and no request is sent. The first read comes
    right after the first accepted record (a device that never delivered has
    nothing at Flatpeak). Each answer tells the status whether Flatpeak lags
    our last accepted record.
    """

    interval = STATE_READ_INTERVAL
    failure_key = "state_read_failed"

    def __init__(
        self,
        hass: HomeAssistant,
        account: FlatpeakAccount,
        runtime: FlatpeakRuntimeData,
    ) -> None:
        """Read the state of ``runtime``'s device."""
        super().__init__(hass, account, f"state at Flatpeak of {runtime.context.title}")
        self.runtime = runtime
        self._read_after: datetime | None = None  # the last success seen at a read
        self._first_asked = False
        runtime.context.async_on_unload(
            runtime.status.async_add_listener(self._status_changed)
        )

    @callback
    def _status_changed(self) -> None:
        """Read at once when the first record was accepted and nothing was read."""
        if (
            self._first_asked
            or self.data is not None
            or not self.last_update_success
            or self.runtime.status.current.last_success is None
        ):
            return
        self._first_asked = True
        self.config_entry.async_create_background_task(
            self.hass, self.async_request_refresh(), f"first {self.name}"
        )

    @override
    async def _async_read(self) -> DeviceStateReading | None:
        status = self.runtime.status
        accepted = status.current.last_success
        if accepted is None or (self.data is not None and accepted == self._read_after):
            return self.data
        reading = await self.client.get_device_state(self.runtime.context.device_id)
        self._read_after = accepted
        status.show_lag(lags(reading.time, accepted_time(status.current.last_body)))
        return reading


class VppCoordinator(FlatpeakReadCoordinator[tuple[VppParticipation, ...] | None]):
    """A device's VPP participations (``GET /vpp-participations?device_id=``).

    The newest is the one shown. Flatpeak saying that telemetry is inactive
    while it accepts our records raises a repair issue.
    """

    interval = VPP_READ_INTERVAL
    failure_key = "vpp_read_failed"

    def __init__(
        self,
        hass: HomeAssistant,
        account: FlatpeakAccount,
        runtime: FlatpeakRuntimeData,
    ) -> None:
        """Read the participations of ``runtime``'s device."""
        super().__init__(hass, account, f"VPP participation of {runtime.context.title}")
        self.runtime = runtime

    @property
    def participation(self) -> VppParticipation | None:
        """Return the participation shown, if the device has one."""
        return current_participation(self.data)

    @override
    async def _async_read(self) -> tuple[VppParticipation, ...] | None:
        items = await self.client.list_vpp_participations(
            self.runtime.context.device_id
        )
        async_update_telemetry_issue(
            self.hass,
            self.runtime.context,
            current_participation(items),
            self.runtime.status.current.last_success,
        )
        return items


class LocationCoordinator(FlatpeakReadCoordinator[Location | None]):
    """A location (``GET /locations/{id}``): read once, again only after a failure.

    Its currency and time zone are what the price sensors need first.
    """

    interval = PRICE_READ_INTERVAL  # the longest wait after failures
    failure_key = "location_read_failed"

    def __init__(
        self, hass: HomeAssistant, account: FlatpeakAccount, location_id: str
    ) -> None:
        """Read the location ``location_id``."""
        super().__init__(hass, account, f"location {location_id}")
        self.location_id = location_id

    @override
    async def _async_read(self) -> Location | None:
        return await self.client.get_location(self.location_id)

    @override
    def _interval_after(self, data: Location | None) -> timedelta | None:
        return None  # read once


@dataclass(frozen=True, slots=True)
class PriceData:
    """The prices of one direction, or why Flatpeak has none (a 422 code)."""

    series: PriceSeries | None = None
    unavailable: str | None = None  # no_tariff_connected, pending_connect, ...


class PriceCoordinator(FlatpeakReadCoordinator[PriceData | None]):
    """The prices of a location in one direction (``POST /prices``).

    Shared by the account's devices at the location (no ``device_id`` is
    sent); not read while the location's read fails. Read every 2 h, hourly while the actual prices ahead run short;
    a 422 saying there is no price is an answer (shown, with a repair issue
    for "no tariff connected") asked again hourly, then every 2 h. The price valid now
    changes at slot boundaries from memory: a timer, no request.
    """

    interval = PRICE_READ_INTERVAL
    # A failed price read is asked again after an hour, then every 2 h: the
    # slots known are shown meanwhile, and both directions failing within the
    # first hour would cost 4 requests more than the budget has.
    retry_min = PRICE_READ_INTERVAL_SHORT
    failure_key = "price_read_failed"

    def __init__(
        self,
        hass: HomeAssistant,
        account: FlatpeakAccount,
        location: LocationCoordinator,
        direction: TariffDirection,
    ) -> None:
        """Read the prices of ``location``'s location for ``direction``."""
        location_id = location.location_id
        super().__init__(hass, account, f"{direction.lower()} prices at {location_id}")
        self.location = location
        self.location_id = location_id
        self.direction = direction
        self._unavailable_count = 0
        # A slot started or ended: the entities show the price valid now.
        self._slots = SlotTimer(hass, self.async_update_listeners)

    @property
    def series(self) -> PriceSeries | None:
        """Return the prices known, if any."""
        return self.data.series if self.data is not None else None

    @override
    async def _async_update_data(self) -> PriceData | None:
        """Read, but not while the location's read fails (the budget).

        Flatpeak failing the location would fail its prices too: no request,
        a failure (the location's error); the location's next success reads
        the prices at once (``LocationReads``).
        """
        if not self.location.last_update_success:
            raise self._failed(self.location.last_error or "")
        return await super()._async_update_data()

    @override
    async def _async_read(self) -> PriceData | None:
        start, end = price_window(dt_util.utcnow())
        try:
            series = await self.client.get_prices(
                self.location_id, start=start, end=end, direction=self.direction
            )
        except FlatpeakPriceUnavailableError as err:
            self._unavailable_count += 1
            data = PriceData(unavailable=err.code or "no_price_data")
        else:
            self._unavailable_count = 0
            data = PriceData(series=series)
        async_update_tariff_issue(
            self.hass,
            self.config_entry,
            self.location_id,
            self.direction,
            data.unavailable,
        )
        return data

    @override
    def _interval_after(self, data: PriceData | None) -> timedelta | None:
        if data is None or data.series is None:
            # An answer, not a failure: hourly (awaiting a tariff or prices),
            # then every 2 h; within the budget in its first hour too.
            return max(
                PRICE_READ_INTERVAL_SHORT,
                retry_interval(self._unavailable_count, self.interval),
            )
        return price_interval(data.series, dt_util.utcnow())

    @callback
    @override
    def _async_refresh_finished(self) -> None:
        """Follow the slots of what is known after every read."""
        if not self._shutdown_requested:
            self._slots.arm(self.series)

    @override
    async def async_shutdown(self) -> None:
        """Stop the boundary timer and the reads."""
        self._slots.cancel()
        await super().async_shutdown()
