"""The status the diagnostic entities show: one frozen value, pushed when it changes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
import time
from typing import TYPE_CHECKING, Any, TypedDict

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .api import Device, DeviceState, DeviceStateRecord
from .const import DOMAIN, LOGGER, STATUS_THROTTLE, ErrorCode, SubmissionStatus

if TYPE_CHECKING:
    from .device import DeviceContext
    from .errors import Verdict
    from .outbox import Outbox
    from .readings import SnapshotError

STORAGE_VERSION = 1
SAVE_DELAY = 10.0  # seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class FlatpeakStatus:
    """What the diagnostic entities show; replaced, never changed in place."""

    status: SubmissionStatus = SubmissionStatus.PENDING
    connected: bool | None = None
    last_success: datetime | None = None
    last_error: ErrorCode = ErrorCode.NONE
    last_error_message: str | None = None  # Flatpeak's own words
    last_error_entity: str | None = None  # the entity a snapshot could not read
    last_error_time: datetime | None = None
    consecutive_failures: int = 0
    queued: int = 0
    dropped: int = 0
    rejected: int = 0
    last_record: DeviceStateRecord | None = None
    last_body: dict[str, Any] | None = field(default=None, hash=False)


def _record_to_json(record: DeviceStateRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "device_id": record.device_id,
        "account_id": record.account_id,
        "time_created": record.time_created.isoformat(),
    }


def _record_from_json(data: dict[str, Any]) -> DeviceStateRecord:
    if (created := dt_util.parse_datetime(str(data["time_created"]))) is None:
        raise ValueError("time_created")
    return DeviceStateRecord(
        id=data["id"],
        device_id=data["device_id"],
        account_id=data["account_id"],
        time_created=created,
    )


class _StoredLast(TypedDict):
    last_success: str | None
    last_record: dict[str, Any] | None
    last_body: dict[str, Any] | None


def _store(hass: HomeAssistant, storage_id: str) -> Store[_StoredLast]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{storage_id}.last")


async def async_remove_status(hass: HomeAssistant, storage_id: str) -> None:
    """Delete the saved last submission of a removed device."""
    await _store(hass, storage_id).async_remove()


class StatusCoordinator(DataUpdateCoordinator[FlatpeakStatus]):
    """Publishes the status with ``async_set_updated_data``; nothing is polled.

    Counter updates while a backlog drains are published at most once per
    ``STATUS_THROTTLE`` (one recorder row a second, not one per record); any
    other change is published at once. The last successful submission and its
    record are kept in a small ``Store`` so that they survive a restart.
    """

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        context: DeviceContext,
        device: Device | None,
    ) -> None:
        """Start from an empty status; ``async_restore`` reads the saved one."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=context.entry,
            name=context.title,
            update_interval=None,
        )
        self.context = context
        self.device_id = context.device_id
        self.device = device
        self.data = FlatpeakStatus()
        self._store = _store(hass, context.storage_id)
        self._pending: FlatpeakStatus | None = None
        self._published_at = 0.0
        self._throttle_unsub: CALLBACK_TYPE | None = None

    async def async_restore(self) -> None:
        """Restore the last successful submission saved by a previous run."""
        if not isinstance(stored := await self._store.async_load(), dict):
            return
        try:
            last_success = stored.get("last_success")
            record = stored.get("last_record")
            self.data = replace(
                self.data,
                last_success=dt_util.parse_datetime(last_success)
                if isinstance(last_success, str)
                else None,
                last_record=_record_from_json(record)
                if isinstance(record, dict)
                else None,
                last_body=stored.get("last_body"),
            )
        except (KeyError, TypeError, ValueError):
            self.context.log.warning("Discarding an unreadable saved last submission")

    @property
    def current(self) -> FlatpeakStatus:
        """Return the newest status, published or still throttled."""
        return self._pending or self.data

    @callback
    def publish(self, *, throttle: bool = False, **changes: Any) -> None:
        """Publish the status with ``changes``; throttled ones may wait a second."""
        status = replace(self.current, **changes)
        if status == self.current:
            return
        if "last_success" in changes:
            self._store.async_delay_save(self._data_to_save, SAVE_DELAY)
        wait = self._published_at + STATUS_THROTTLE - time.monotonic()
        if throttle and wait > 0:
            self._pending = status
            if self._throttle_unsub is None:
                self._throttle_unsub = async_call_later(
                    self.hass, wait, self._publish_pending
                )
            return
        self._set(status)

    @callback
    def _publish_pending(self, _now: datetime) -> None:
        self._throttle_unsub = None
        if self._pending is not None:
            self._set(self._pending)

    # --- what each event changes --------------------------------------------

    @callback
    def show_counts(self, outbox: Outbox, *, throttle: bool = False) -> None:
        """Show the outbox's counters."""
        self.publish(
            throttle=throttle,
            queued=len(outbox),
            dropped=outbox.dropped,
            rejected=outbox.rejected,
        )

    @callback
    def show_data_ok(self) -> None:
        """A snapshot was taken: a data problem shown so far is over."""
        current = self.current
        if (
            current.status
            in (SubmissionStatus.WAITING_FOR_DATA, SubmissionStatus.INVALID_DATA)
            and not current.consecutive_failures
        ):
            self.publish(status=SubmissionStatus.PENDING)

    @callback
    def show_snapshot_problem(self, err: SnapshotError) -> None:
        """Show why no snapshot could be taken."""
        waiting = err.status is SubmissionStatus.WAITING_FOR_DATA
        self.publish(
            status=err.status,
            last_error=ErrorCode.WAITING_FOR_DATA
            if waiting
            else ErrorCode.INVALID_DATA,
            last_error_message=None,
            last_error_entity=err.entity_id,
            last_error_time=dt_util.utcnow(),
        )

    @callback
    def show_delivered(
        self, state: DeviceState, record: DeviceStateRecord, outbox: Outbox
    ) -> None:
        """Show an accepted record (throttled while a backlog drains)."""
        backlog = bool(outbox)
        self.publish(
            throttle=backlog,
            status=SubmissionStatus.PENDING if backlog else SubmissionStatus.OK,
            connected=True,
            consecutive_failures=0,
            last_success=dt_util.utcnow(),
            last_record=record,
            last_body=state.to_json(),
            queued=len(outbox),
            dropped=outbox.dropped,
        )

    @callback
    def show_failure(
        self,
        verdict: Verdict,
        outbox: Outbox,
        *,
        consecutive_failures: int,
        throttle: bool = False,
    ) -> None:
        """Show a failed submission (a rejection is throttled while draining)."""
        self.publish(
            throttle=throttle,
            status=verdict.status,
            connected=verdict.connected,
            last_error=verdict.code,
            last_error_message=verdict.message,
            last_error_entity=None,
            last_error_time=dt_util.utcnow(),
            consecutive_failures=consecutive_failures,
            queued=len(outbox),
            dropped=outbox.dropped,
            rejected=outbox.rejected,
        )

    def _set(self, status: FlatpeakStatus) -> None:
        if self._throttle_unsub is not None:
            self._throttle_unsub()
            self._throttle_unsub = None
        self._pending = None
        self._published_at = time.monotonic()
        self.async_set_updated_data(status)

    def _data_to_save(self) -> _StoredLast:
        status = self.current
        record = status.last_record
        return {
            "last_success": (
                status.last_success.isoformat() if status.last_success else None
            ),
            "last_record": _record_to_json(record) if record is not None else None,
            "last_body": status.last_body,
        }

    async def async_stop(self) -> None:
        """Publish what waits and save the last submission (unload, shutdown)."""
        if self._pending is not None:
            self._set(self._pending)
        await self._store.async_save(self._data_to_save())
