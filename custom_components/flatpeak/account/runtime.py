"""What a loaded device holds: settings, status, sender and scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Self

from homeassistant.config_entries import ConfigEntry

from ..api import Device, DeviceState, DeviceStateRecord, FlatpeakClient
from ..const import (
    CONF_HEARTBEAT_INTERVAL,
    CONF_MIN_INTERVAL,
    CONF_OUTBOX_MAX_AGE,
    CONF_OUTBOX_MAX_RECORDS,
    CONF_SUBMIT_ON_CHANGE,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MIN_INTERVAL,
    DEFAULT_OUTBOX_MAX_AGE,
    DEFAULT_OUTBOX_MAX_RECORDS,
    DEFAULT_SUBMIT_ON_CHANGE,
)
from ..delivery.errors import SubmissionError, to_home_assistant_error
from ..mapping.battery_mapping import BatteryMapping
from ..mapping.readings import SnapshotError

if TYPE_CHECKING:
    from ..delivery.outbox import Outbox
    from ..delivery.scheduler import Scheduler
    from ..delivery.sender import Sender
    from ..delivery.status import StatusPublisher
    from .account import FlatpeakAccount
    from .device import DeviceContext

type FlatpeakConfigEntry = ConfigEntry[FlatpeakAccount]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """When snapshots are taken and how long unsent records are kept."""

    submit_on_change: bool
    min_interval: timedelta
    heartbeat_interval: timedelta
    outbox_max_age: timedelta
    outbox_max_records: int

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        """Read the behaviour from a device subentry's data."""
        return cls(
            submit_on_change=options.get(
                CONF_SUBMIT_ON_CHANGE, DEFAULT_SUBMIT_ON_CHANGE
            ),
            min_interval=timedelta(
                seconds=options.get(CONF_MIN_INTERVAL, DEFAULT_MIN_INTERVAL)
            ),
            heartbeat_interval=timedelta(
                minutes=options.get(CONF_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL)
            ),
            outbox_max_age=timedelta(
                hours=options.get(CONF_OUTBOX_MAX_AGE, DEFAULT_OUTBOX_MAX_AGE)
            ),
            outbox_max_records=int(
                options.get(CONF_OUTBOX_MAX_RECORDS, DEFAULT_OUTBOX_MAX_RECORDS)
            ),
        )


@dataclass(slots=True, kw_only=True)
class FlatpeakRuntimeData:
    """The parts of one loaded device of an account, each with one job."""

    context: DeviceContext
    client: FlatpeakClient
    device: Device | None
    mapping: BatteryMapping
    settings: Settings
    status: StatusPublisher
    sender: Sender
    scheduler: Scheduler
    _lookup: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def outbox(self) -> Outbox:
        """Return the records waiting for delivery."""
        return self.sender.outbox

    async def async_flatpeak_device(self) -> Device:
        """Return the device as Flatpeak describes it (its locations).

        Looked up at setup; if that failed, looked up again now (and kept):
        callers at the same moment (the action, the reads) share one request.
        Raises the client's ``FlatpeakError``.
        """
        async with self._lookup:
            if self.device is None:
                self.device = await self.client.get_device(self.context.device_id)
            return self.device

    async def async_submit_now(
        self, overrides: Mapping[str, Any] | None = None
    ) -> tuple[DeviceState, DeviceStateRecord]:
        """Submit a snapshot now for the action or the button.

        The action boundary: domain errors become translated Home Assistant
        errors here.
        """
        try:
            return await self.scheduler.async_submit_now(overrides)
        except (SnapshotError, SubmissionError) as err:
            raise to_home_assistant_error(err) from None

    async def async_shutdown(self) -> None:
        """Stop, keep what is pending, and flush to disk (unload and HA stop)."""
        self.sender.stop()  # first: what the scheduler still queues waits on disk
        self.scheduler.stop()
        await self.outbox.async_close()
        await self.status.async_stop()
