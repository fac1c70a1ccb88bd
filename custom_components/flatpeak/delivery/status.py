"""The status the diagnostic entities show: one frozen value, pushed when it is news."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
import time
from typing import TYPE_CHECKING, Any, override

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import BaseDataUpdateCoordinatorProtocol
from homeassistant.util import dt as dt_util

from ..api import Device, DeviceState, DeviceStateRecord
from ..const import LAST_SUBMISSION_STEP, STATUS_THROTTLE, ErrorCode, SubmissionStatus
from .outbox_writer import FLUSH_DELAY
from .status_store import LastSubmissionStore

if TYPE_CHECKING:
    from ..account.device import DeviceContext
    from ..account.runtime import FlatpeakConfigEntry
    from ..mapping.readings import SnapshotError
    from .errors import Verdict
    from .outbox import Outbox


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
    # The newest state Flatpeak holds lags our last accepted record (a read).
    lagging: bool = False

    @property
    def shown_status(self) -> SubmissionStatus:
        """Return the status the sensor shows: ``lagging`` is a nuance of ``ok``.

        Only delivery sets ``status``; a read sets ``lagging``, which shows
        while delivery is ``ok`` and never hides a delivery problem.
        """
        if self.status is SubmissionStatus.OK and self.lagging:
            return SubmissionStatus.LAGGING
        return self.status


class StatusPublisher(BaseDataUpdateCoordinatorProtocol):
    """Pushes the status to the entities (``BaseCoordinatorEntity``); nothing is polled.

    ``current`` is the newest status, ``data`` what the entities show. A change
    is shown when it is news, and at most once per ``STATUS_THROTTLE`` (a
    backlog draining, failures repeating: one recorder row a second). Two
    changes are not news yet:

    - more queued records while no delivery failed: shown once they are
      still queued ``FLUSH_DELAY`` later (a record delivered at once never
      shows, as it never reaches the disk); after a failure they show at once;
    - a later *Last submission* while nothing else changes: shown when it is
      ``LAST_SUBMISSION_STEP`` past the shown one, so that routine submissions
      do not write a logbook entry each (an earlier one, after a wall-clock
      step back, shows at once: the shown time would be in the future). Any other change of the status (a
      failure, the end of a backlog, a record the action waits for) shows the
      exact time at once.

    The last successful submission and its record survive a restart
    (``delivery/status_store.py``).
    """

    config_entry: FlatpeakConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        context: DeviceContext,
        device: Device | None,
    ) -> None:
        """Start from an empty status; ``async_restore`` reads the saved one."""
        self.hass = hass
        self.config_entry = context.entry
        self.context = context
        self.device_id = context.device_id
        self.device = device
        self.data = self._current = FlatpeakStatus()
        self._store = LastSubmissionStore(hass, context.storage_id, log=context.log)
        self._listeners: dict[CALLBACK_TYPE, CALLBACK_TYPE] = {}
        self._published_at = -STATUS_THROTTLE
        self._queued_since: float | None = None  # more queued than shown, since
        self._awaited = False  # a record someone waits for was accepted
        self._timer: CALLBACK_TYPE | None = None
        # Why the latest snapshot could not be taken (None: it was taken).
        self._data_problem: dict[str, Any] | None = None

    async def async_restore(self) -> None:
        """Restore the last successful submission saved by a previous run."""
        self.data = self._current = replace(
            self._current, **await self._store.async_load()
        )

    @callback
    def restore_counts(self, outbox: Outbox) -> None:
        """Take the restored outbox's counters before the entities first write.

        Dropped and Rejected records are totals: shown as 0 for a moment at
        start, they would read as a counter reset to long-term statistics.
        """
        self.data = self._current = replace(
            self._current,
            queued=len(outbox),
            dropped=outbox.dropped,
            rejected=outbox.rejected,
        )

    @property
    def current(self) -> FlatpeakStatus:
        """Return the newest status, shown or not yet."""
        return self._current

    # --- the entities listen --------------------------------------------------

    @callback
    @override
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Call ``update_callback`` whenever the shown status changes."""

        @callback
        def remove_listener() -> None:
            self._listeners.pop(remove_listener, None)

        self._listeners[remove_listener] = update_callback
        return remove_listener

    # --- showing it -------------------------------------------------------------

    @callback
    def publish(self, *, awaited: bool = False, **changes: Any) -> None:
        """Change the status; the entities show it when it is news (see above)."""
        status = replace(self._current, **changes)
        if status == self._current and not awaited:
            return
        if "last_success" in changes:
            self._store.save_later(lambda: self._current)
        if status.queued <= self.data.queued or status.consecutive_failures:
            self._queued_since = None
        elif self._queued_since is None:
            self._queued_since = time.monotonic()
        self._current = status
        self._awaited |= awaited
        self._update()

    @callback
    def _update(self, _now: datetime | None = None) -> None:
        """Show the news now, arm a timer for it, or wait for a change."""
        self._cancel_timer()
        if (due := self._due()) is None:
            return
        now = time.monotonic()
        if (wait := due - now) > 0:
            self._timer = async_call_later(self.hass, wait, self._update)
            return
        # A write the timer held counts for the moment it was due: a timer
        # that runs late does not hold back the next change.
        self._show(self._next(), at=due if _now is not None else now)

    def _next(self) -> FlatpeakStatus:
        """Return what the entities show next: the newest status, less what is no news."""
        shown, status = self.data, self._current
        if self._queued_since is not None and (
            time.monotonic() < self._queued_since + FLUSH_DELAY
        ):
            status = replace(status, queued=shown.queued)
        if (
            not self._awaited
            and status.status is shown.status
            and shown.last_success is not None
            and status.last_success is not None
            # Not after a wall-clock step back: the shown time is then ahead.
            and timedelta(0)
            <= status.last_success - shown.last_success
            < LAST_SUBMISSION_STEP
        ):
            status = replace(status, last_success=shown.last_success)
        return status

    def _due(self) -> float | None:
        """Return when the news may show (monotonic), or None: nothing is news."""
        throttled = self._published_at + STATUS_THROTTLE
        if _shown_part(self._next()) != _shown_part(self.data):
            return throttled
        if self._queued_since is not None:
            return max(throttled, self._queued_since + FLUSH_DELAY)
        return None

    def _show(self, status: FlatpeakStatus, *, at: float) -> None:
        self.data = status
        if status.queued >= self._current.queued:
            self._queued_since = None
        if status.last_success == self._current.last_success:
            self._awaited = False
        if self._listeners:  # the throttle is for the entities' writes
            self._published_at = at
        for update_callback in list(self._listeners.values()):
            update_callback()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None

    # --- what each event changes --------------------------------------------

    @callback
    def show_counts(self, outbox: Outbox) -> None:
        """Show the outbox's counters."""
        self.publish(
            queued=len(outbox),
            dropped=outbox.dropped,
            rejected=outbox.rejected,
        )

    @callback
    def show_data_ok(self, *, paused: bool = False) -> None:
        """A snapshot was taken: a data problem shown so far is over.

        ``paused``: kept in mind, not shown (the pause says more).
        """
        self._data_problem = None
        current = self.current
        if (
            not paused
            and current.status
            in (SubmissionStatus.WAITING_FOR_DATA, SubmissionStatus.INVALID_DATA)
            and not current.consecutive_failures
        ):
            self.publish(status=SubmissionStatus.PENDING)

    @callback
    def show_snapshot_problem(
        self, err: SnapshotError, *, paused: bool = False
    ) -> None:
        """Show why no snapshot could be taken, until one is.

        ``paused``: kept in mind, not shown (the pause says more). A delivery
        or a resume meanwhile shows it again: it is still true.
        """
        waiting = err.status is SubmissionStatus.WAITING_FOR_DATA
        self._data_problem = {
            "status": err.status,
            "last_error": ErrorCode.WAITING_FOR_DATA
            if waiting
            else ErrorCode.INVALID_DATA,
            "last_error_message": None,
            "last_error_entity": err.entity_id,
            "last_error_time": dt_util.utcnow(),
        }
        if not paused:
            self.publish(**self._data_problem)

    @callback
    def show_resumed(self, outbox: Outbox) -> None:
        """A pause ended: Flatpeak answers; pending until the outbox is delivered."""
        self.publish(
            **{
                "status": SubmissionStatus.PENDING if outbox else SubmissionStatus.OK,
                "connected": True,
                "consecutive_failures": 0,
                **(self._data_problem or {}),
            }
        )

    @callback
    def show_delivered(
        self,
        state: DeviceState,
        record: DeviceStateRecord,
        outbox: Outbox,
        *,
        awaited: bool = False,
    ) -> None:
        """Show an accepted record: a problem shown so far is over.

        The status is ``pending`` while a backlog drains after a problem; a
        record queued while Flatpeak accepts keeps it ``ok``. ``awaited``: the
        action or the button waits for it; its time shows at once. A data
        problem of the latest snapshot is not over: it stays shown.
        """
        ok = not outbox or self._current.status is SubmissionStatus.OK
        self.publish(
            awaited=awaited,
            connected=True,
            consecutive_failures=0,
            last_success=dt_util.utcnow(),
            last_record=record,
            last_body=state.to_json(),
            queued=len(outbox),
            dropped=outbox.dropped,
            **(
                self._data_problem
                or {
                    "status": SubmissionStatus.OK if ok else SubmissionStatus.PENDING,
                    "last_error": ErrorCode.NONE,
                    "last_error_message": None,
                    "last_error_entity": None,
                    "last_error_time": None,
                }
            ),
        )

    @callback
    def show_failure(
        self, verdict: Verdict, outbox: Outbox, *, consecutive_failures: int
    ) -> None:
        """Show a failed submission."""
        self.publish(
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

    @callback
    def show_lag(self, lagging: bool) -> None:
        """Show whether Flatpeak's newest state lags our last accepted record."""
        self.publish(lagging=lagging)

    async def async_stop(self) -> None:
        """Show the newest status and save the last submission (unload, shutdown)."""
        self._cancel_timer()
        if _shown_part(self._current) != _shown_part(self.data):
            self._show(self._current, at=time.monotonic())
        await self._store.async_save(self._current)


def _shown_part(status: FlatpeakStatus) -> FlatpeakStatus:
    """Return ``status`` without what no entity shows (diagnostics read it)."""
    return replace(status, last_record=None, last_body=None)
