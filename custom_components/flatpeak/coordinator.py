"""The coordinator: turns entity changes into snapshots and delivers them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import math
import random
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import (
    async_call_later,
    async_track_entity_registry_updated_event,
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .api import (
    Device,
    DeviceState,
    DeviceStateRecord,
    FlatpeakAuthenticationError,
    FlatpeakClient,
    FlatpeakConnectionError,
    FlatpeakError,
    FlatpeakNotFoundError,
    FlatpeakRateLimitError,
    FlatpeakRetryableError,
    FlatpeakServerError,
    FlatpeakValidationError,
)
from .const import (
    ACTION_TIMEOUT,
    BACKLOG_PACE,
    BACKOFF_BASE,
    BACKOFF_MAX,
    COALESCE_DELAY,
    CONF_DEVICE_ID,
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
    DOMAIN,
    LOGGER,
    SubmissionStatus,
)
from .issues import (
    async_create_device_issue,
    async_create_mapping_issue,
    async_delete_mapping_issue,
)
from .mapping import (
    BatteryMapping,
    SnapshotError,
    build_device_state,
    mapping_problems,
    with_reference_id,
)
from .outbox import Outbox

type FlatpeakConfigEntry = ConfigEntry[FlatpeakCoordinator]


@dataclass(slots=True)
class FlatpeakData:
    """What the diagnostic entities show."""

    status: SubmissionStatus = SubmissionStatus.PENDING
    connected: bool | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    last_record: DeviceStateRecord | None = None
    last_body: dict[str, Any] | None = None


def backoff_delay(failures: int) -> float:
    """Return the wait after ``failures`` consecutive failures (with jitter)."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, failures - 1))
    return float(delay / 2 + random.uniform(0, delay / 2))  # noqa: S311


class FlatpeakCoordinator(DataUpdateCoordinator[FlatpeakData]):
    """Listens to the mapped entities and delivers snapshots through the outbox."""

    config_entry: FlatpeakConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: FlatpeakConfigEntry,
        client: FlatpeakClient,
        device: Device | None,
    ) -> None:
        """Read the mapping and behaviour from the entry's options."""
        super().__init__(
            hass, LOGGER, config_entry=entry, name=DOMAIN, update_interval=None
        )
        options = entry.options
        self.client = client
        self.device = device
        self.device_id: str = entry.data[CONF_DEVICE_ID]
        self.mapping = BatteryMapping.from_options(options)
        self.submit_on_change: bool = options.get(
            CONF_SUBMIT_ON_CHANGE, DEFAULT_SUBMIT_ON_CHANGE
        )
        self.min_interval = timedelta(
            seconds=options.get(CONF_MIN_INTERVAL, DEFAULT_MIN_INTERVAL)
        )
        self.heartbeat_interval = timedelta(
            minutes=options.get(CONF_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL)
        )
        self.outbox = Outbox(
            hass,
            entry.entry_id,
            max_age=timedelta(
                hours=options.get(CONF_OUTBOX_MAX_AGE, DEFAULT_OUTBOX_MAX_AGE)
            ),
            max_records=int(
                options.get(CONF_OUTBOX_MAX_RECORDS, DEFAULT_OUTBOX_MAX_RECORDS)
            ),
        )
        self.data = FlatpeakData()
        self._unsubs: list[CALLBACK_TYPE] = []
        self._flush_unsub: CALLBACK_TYPE | None = None
        self._heartbeat_unsub: CALLBACK_TYPE | None = None
        self._retry_unsub: CALLBACK_TYPE | None = None
        self._stop_unsub: CALLBACK_TYPE | None = None
        self._pending_change: datetime | None = None
        self._last_snapshot: datetime | None = None
        self._paused: SubmissionStatus | None = None
        self._closed = False
        self._unreachable_logged = False
        self._deliver_lock = asyncio.Lock()
        self._waiters: dict[str, list[asyncio.Future[DeviceStateRecord]]] = {}

    async def _async_update_data(self) -> FlatpeakData:
        """Return the current status (nothing is polled: data is pushed)."""
        return self.data

    # --- lifecycle -----------------------------------------------------------

    async def async_start(self) -> None:
        """Restore the outbox and start listening once Home Assistant has started."""
        await self.outbox.async_load()
        if self.outbox:
            self.data.status = SubmissionStatus.PENDING
        self._unsubs.append(async_at_started(self.hass, self._async_on_started))
        self._stop_unsub = self.hass.bus.async_listen_once(
            EVENT_HOMEASSISTANT_STOP, self._async_on_stop
        )

    async def _async_on_stop(self, _event: Event) -> None:
        """Home Assistant stops: keep what is pending, like at unload."""
        self._stop_unsub = None  # a one-shot listener removes itself
        await self.async_shutdown()

    async def _async_on_started(self, hass: HomeAssistant) -> None:
        entity_ids = self.mapping.entity_ids
        if self.submit_on_change:
            self._unsubs.append(
                async_track_state_change_event(hass, entity_ids, self._on_state_change)
            )
        self._unsubs.append(
            async_track_entity_registry_updated_event(
                hass, entity_ids, self._on_registry_update
            )
        )
        self.check_mapping()
        self._schedule_heartbeat()
        self._kick()

    @callback
    def _on_registry_update(
        self, event: Event[er.EventEntityRegistryUpdatedData]
    ) -> None:
        """Follow a renamed entity; re-check the mapping when one is removed."""
        data = event.data
        if data["action"] == "update" and "old_entity_id" in data:
            old, new = data["old_entity_id"], data["entity_id"]
            entry = self.config_entry
            options = {
                key: new if value == old else value
                for key, value in entry.options.items()
            }
            LOGGER.info("Mapped entity %s was renamed to %s", old, new)
            self.hass.config_entries.async_update_entry(entry, options=options)
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        elif data["action"] == "remove":
            self.check_mapping()

    @callback
    def check_mapping(self) -> None:
        """Raise (or clear) the repair issue of a mapping that stopped working."""
        entry = self.config_entry
        problems = mapping_problems(self.hass, entry.options)
        if not problems:
            async_delete_mapping_issue(self.hass, entry.entry_id)
            return
        async_create_mapping_issue(
            self.hass,
            entry,
            ", ".join(sorted(str(entry.options[field]) for field in problems)),
        )

    async def async_shutdown(self) -> None:
        """Stop every listener and timer and save the outbox.

        A change still waiting for its snapshot (coalescing or inside the
        minimum gap) is queued first, so that it is delivered after a restart.
        """
        if self._closed:
            return
        await super().async_shutdown()
        self._closed = True
        if self._flush_unsub is not None:
            self._flush_unsub()
            self._flush(dt_util.utcnow())
        for unsub in (
            *self._unsubs,
            self._stop_unsub,
            self._heartbeat_unsub,
            self._retry_unsub,
        ):
            if unsub is not None:
                unsub()
        self._unsubs.clear()
        self._stop_unsub = self._heartbeat_unsub = self._retry_unsub = None
        self._fail_waiters(
            HomeAssistantError(translation_domain=DOMAIN, translation_key="unloaded")
        )
        await self.outbox.async_save()

    # --- snapshots -------------------------------------------------------------

    @callback
    def _on_state_change(self, event: Event[EventStateChangedData]) -> None:
        new_state = event.data["new_state"]
        when = new_state.last_updated if new_state else dt_util.utcnow()
        if self._pending_change is None or when > self._pending_change:
            self._pending_change = when
        if self._flush_unsub is not None:
            return
        due = dt_util.utcnow() + COALESCE_DELAY
        if self._last_snapshot is not None:
            due = max(due, self._last_snapshot + self.min_interval)
        self._flush_unsub = async_track_point_in_utc_time(self.hass, self._flush, due)

    @callback
    def _flush(self, _now: datetime) -> None:
        self._flush_unsub = None
        when, self._pending_change = self._pending_change, None
        if when is not None:
            self._queue_snapshot(when)

    def _schedule_heartbeat(self) -> None:
        """Schedule the next heartbeat on a multiple of the interval (clock-aligned)."""
        interval = self.heartbeat_interval.total_seconds()
        now = dt_util.utcnow().timestamp()
        due = dt_util.utc_from_timestamp((math.floor(now / interval) + 1) * interval)
        self._heartbeat_unsub = async_track_point_in_utc_time(
            self.hass, self._heartbeat, due
        )

    @callback
    def _heartbeat(self, now: datetime) -> None:
        self._schedule_heartbeat()
        # The heartbeat carries the latest values: a pending change rides along.
        if self._flush_unsub is not None:
            self._flush_unsub()
            self._flush_unsub = None
        self._pending_change = None
        self._queue_snapshot(now)

    def _snapshot(
        self, when: datetime, overrides: Mapping[str, Any] | None = None
    ) -> DeviceState:
        state = build_device_state(self.hass, self.mapping, when, overrides)
        return with_reference_id(self.device_id, state)

    @callback
    def _queue_snapshot(self, when: datetime) -> None:
        self.check_mapping()
        try:
            state = self._snapshot(when)
        except SnapshotError as err:
            LOGGER.debug("No snapshot taken: %s", err)
            self.data.status = err.status
            self.data.last_error = str(err)
            self.async_update_listeners()
            return
        self._enqueue(state)

    def _enqueue(self, state: DeviceState) -> None:
        self._last_snapshot = dt_util.utcnow()
        self.outbox.append(state)
        if (
            self.data.status
            in (SubmissionStatus.WAITING_FOR_DATA, SubmissionStatus.INVALID_DATA)
            and self._paused is None
            and not self.data.consecutive_failures
        ):
            self.data.status = SubmissionStatus.PENDING
        self.async_update_listeners()
        self._kick()

    async def async_submit_now(
        self, overrides: Mapping[str, Any] | None = None
    ) -> tuple[DeviceState, DeviceStateRecord]:
        """Take a snapshot now (bypassing the minimum gap) and wait for its record.

        Raise ``SnapshotError`` when a value cannot be read and
        ``HomeAssistantError`` when Flatpeak did not accept it; a record that
        failed for a reason that may pass stays queued.
        """
        state = self._snapshot(dt_util.utcnow(), overrides)
        if self._paused is not None or self._retry_unsub is not None:
            self._enqueue(state)
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="submission_queued",
                translation_placeholders={"status": self.data.status.value},
            )
        future: asyncio.Future[DeviceStateRecord] = self.hass.loop.create_future()
        reference = state.record_reference_id or ""
        self._waiters.setdefault(reference, []).append(future)
        self._enqueue(state)
        try:
            async with asyncio.timeout(ACTION_TIMEOUT):
                record = await future
        except TimeoutError:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="submission_queued",
                translation_placeholders={"status": self.data.status.value},
            ) from None
        finally:
            if future in self._waiters.get(reference, []):
                self._waiters[reference].remove(future)
                if not self._waiters[reference]:
                    del self._waiters[reference]
        return state, record

    # --- delivery --------------------------------------------------------------

    @callback
    def _kick(self) -> None:
        """Start delivering unless paused, waiting for a retry, or already running."""
        if (
            self.outbox
            and not self._closed
            and self._paused is None
            and self._retry_unsub is None
            and not self._deliver_lock.locked()
        ):
            self.config_entry.async_create_background_task(
                self.hass, self._async_deliver(), f"{DOMAIN} deliver"
            )

    @callback
    def _retry(self, _now: datetime) -> None:
        self._retry_unsub = None
        self._kick()

    async def _async_deliver(self) -> None:
        """Deliver the outbox oldest-first; one request in flight per entry."""
        if self._deliver_lock.locked():
            return
        async with self._deliver_lock:
            while (
                self._paused is None
                and self._retry_unsub is None
                and (state := self.outbox.peek()) is not None
            ):
                try:
                    record = await self.client.submit_device_state(
                        self.device_id, state
                    )
                except FlatpeakValidationError as err:
                    self._rejected(state, err)
                    continue
                except FlatpeakAuthenticationError as err:
                    self._pause(SubmissionStatus.AUTH_FAILED, err)
                    self.config_entry.async_start_reauth(self.hass)
                    return
                except FlatpeakNotFoundError as err:
                    self.device_not_found(err)
                    return
                except FlatpeakError as err:
                    self._failed(err)
                    return
                self._delivered(state, record)
                if self.outbox:
                    # A backlog is delivered paced, so recovery does not trip the
                    # API's rate limit.
                    self._retry_unsub = async_call_later(
                        self.hass, BACKLOG_PACE, self._retry
                    )

    def _resolve(
        self, state: DeviceState, outcome: DeviceStateRecord | Exception
    ) -> None:
        for future in self._waiters.pop(state.record_reference_id or "", []):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _fail_waiters(self, err: Exception) -> None:
        waiters, self._waiters = self._waiters, {}
        for futures in waiters.values():
            for future in futures:
                if not future.done():
                    future.set_exception(err)

    def _delivered(self, state: DeviceState, record: DeviceStateRecord) -> None:
        self.outbox.delivered(state)
        if self._unreachable_logged:
            LOGGER.info(
                "The Flatpeak API is reachable again; %s queued record(s) to deliver",
                len(self.outbox),
            )
            self._unreachable_logged = False
        data = self.data
        data.status = SubmissionStatus.PENDING if self.outbox else SubmissionStatus.OK
        data.connected = True
        data.consecutive_failures = 0
        data.last_success = dt_util.utcnow()
        data.last_record = record
        data.last_body = state.to_json()
        self._resolve(state, record)
        self.async_update_listeners()

    def _rejected(self, state: DeviceState, err: FlatpeakValidationError) -> None:
        LOGGER.warning("Flatpeak rejected a device state for good: %s", err.message)
        self.outbox.reject(state)
        data = self.data
        data.status = SubmissionStatus.INVALID_DATA
        data.connected = True
        data.last_error = err.message
        self._resolve(
            state,
            HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="submission_rejected",
                translation_placeholders={"message": err.message},
            ),
        )
        self.async_update_listeners()

    def device_not_found(self, err: FlatpeakNotFoundError) -> None:
        """Pause and raise a repair issue: the device is gone from Flatpeak.

        Reconfiguring the entry (a new device ID) reloads it and resumes.
        """
        self._pause(SubmissionStatus.ERROR, err)
        async_create_device_issue(self.hass, self.config_entry, self.device_id)

    def _pause(self, status: SubmissionStatus, err: FlatpeakError) -> None:
        LOGGER.error("Submissions to Flatpeak paused: %s", err.message)
        self._paused = status
        data = self.data
        data.status = status
        data.connected = True
        data.last_error = err.message
        data.consecutive_failures += 1
        self._fail_waiters(self._api_error(err))
        self.async_update_listeners()

    def _failed(self, err: FlatpeakError) -> None:
        data = self.data
        data.consecutive_failures += 1
        data.last_error = err.message
        unreachable = isinstance(err, FlatpeakConnectionError | FlatpeakServerError)
        data.connected = not unreachable
        data.status = (
            SubmissionStatus.RATE_LIMITED
            if isinstance(err, FlatpeakRateLimitError)
            else SubmissionStatus.ERROR
        )
        retry_after = (
            err.retry_after if isinstance(err, FlatpeakRetryableError) else None
        )
        delay = (
            max(1.0, retry_after)
            if retry_after is not None
            else backoff_delay(data.consecutive_failures)
        )
        if unreachable and not self._unreachable_logged:
            self._unreachable_logged = True
            LOGGER.warning(
                "The Flatpeak API is unavailable (%s); records are queued and "
                "retried with backoff",
                err.message,
            )
        else:
            LOGGER.debug(
                "Submission failed (%s); retrying in %.1f s", err.message, delay
            )
        self._retry_unsub = async_call_later(self.hass, delay, self._retry)
        self._fail_waiters(self._api_error(err))
        self.async_update_listeners()

    @staticmethod
    def _api_error(err: FlatpeakError) -> HomeAssistantError:
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="submission_failed",
            translation_placeholders={"message": err.message},
        )
