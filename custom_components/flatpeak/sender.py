"""The sender: delivers the outbox to Flatpeak, one request at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .api import DeviceState, DeviceStateRecord, FlatpeakClient
from .backlog import BacklogGate
from .const import ACTION_TIMEOUT, DOMAIN, LOGGER, ErrorCode
from .errors import Action, SubmissionError, Verdict, classify, describe
from .issues import async_create_device_issue
from .outbox import Outbox
from .readings import SnapshotError
from .retry import Pace, backoff_delay
from .status import StatusCoordinator
from .waiters import Waiters


class SenderState(StrEnum):
    """Where the sender is. Only ``IDLE`` starts a delivery when a record arrives.

    - ``IDLE``: no request in flight and no timer; a new record starts a delivery.
    - ``SENDING``: the delivery task runs, with exactly one request in flight;
      records are sent back to back while Flatpeak answers 2xx.
    - ``WAITING``: a timer restarts delivery: the backoff after a failure, the
      ``Retry-After`` Flatpeak asked for, or the slower pace after a 429.
    - ``PAUSED``: Flatpeak refused something only the user can fix (credentials,
      device, API URL). Records keep queuing; the fix reloads the entry.
    """

    IDLE = "idle"
    SENDING = "sending"
    WAITING = "waiting"
    PAUSED = "paused"


class Sender:
    """Owns the outbox and the client: delivery, retries, pause, the action's waiters.

    Order: the outbox says what goes next (the current state, then the
    backlog oldest first). After a failure, and at start, the backlog waits a
    random delay once per drain (``backlog.py``; the current state never
    does); one request is in flight at a time, and the pace after a 429 holds
    for every record. When the backlog ended the drain (Flatpeak's last record is
    older than the newest it has), ``on_drain_end`` asks the scheduler for a
    fresh snapshot, which closes the drain.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        client: FlatpeakClient,
        outbox: Outbox,
        status: StatusCoordinator,
    ) -> None:
        """Deliver ``outbox`` with ``client``; report through ``status``."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.outbox = outbox
        self.status = status
        self.device_id = status.device_id
        self.state = SenderState.IDLE
        self._timer: CALLBACK_TYPE | None = None
        self._may_retry_now = False  # the wait is ours, not a Retry-After
        self._pace = Pace()
        self._waiters = Waiters(hass)
        self._outage_logged = False
        # The scheduler takes a snapshot when the backlog ended a drain.
        self.on_drain_end: Callable[[], None] | None = None
        self._backlog = BacklogGate(hass, self._kick)

    # --- what the scheduler and the action call --------------------------------

    @callback
    def start(self) -> None:
        """Show the restored outbox and deliver it."""
        self.status.show_counts(self.outbox)
        self._kick()

    @callback
    def enqueue(self, state: DeviceState) -> None:
        """Queue a snapshot and deliver it when the sender can."""
        self.outbox.append(state)
        if self.state is not SenderState.PAUSED:
            self.status.show_data_ok()
        self.status.show_counts(self.outbox, throttle=self.state is SenderState.SENDING)
        self._kick()

    @callback
    def snapshot_failed(self, err: SnapshotError) -> None:
        """Show why no snapshot was taken, unless a pause says more."""
        if self.state is not SenderState.PAUSED:
            self.status.show_snapshot_problem(err)

    async def async_submit(self, state: DeviceState) -> DeviceStateRecord:
        """Queue ``state`` and wait until Flatpeak has it.

        During a backoff the delivery is retried now. Raise ``SubmissionError``
        when it was rejected, failed (it stays queued), or is still queued
        after ``ACTION_TIMEOUT``.
        """
        if self.state is SenderState.PAUSED:
            self.enqueue(state)
            raise self._queued()
        with self._waiters.wait_for(state) as future:
            self.enqueue(state)
            self.retry_now()
            try:
                async with asyncio.timeout(ACTION_TIMEOUT):
                    return await future
            except TimeoutError:
                raise self._queued() from None

    @callback
    def retry_now(self) -> None:
        """End a backoff or pace wait now (not a Retry-After Flatpeak asked for)."""
        if self.state is SenderState.WAITING and self._may_retry_now:
            self._cancel_timer()
            self.state = SenderState.IDLE
            self._kick()

    @callback
    def pause(self, verdict: Verdict) -> None:
        """Stop delivering until the user fixes what Flatpeak refused."""
        LOGGER.error("Submissions to Flatpeak paused: %s", describe(verdict))
        self._cancel_timer()
        self.state = SenderState.PAUSED
        self._failure(verdict)
        if verdict.code is ErrorCode.AUTH_FAILED:
            self.entry.async_start_reauth(self.hass)
        elif verdict.code is ErrorCode.DEVICE_NOT_FOUND:
            async_create_device_issue(self.hass, self.entry, self.device_id)

    # --- delivery -------------------------------------------------------------

    @callback
    def _kick(self) -> None:
        if self.state is SenderState.IDLE and self.outbox:
            self.state = SenderState.SENDING
            self.entry.async_create_background_task(
                self.hass, self._async_deliver(), f"{DOMAIN} deliver"
            )

    async def _async_deliver(self) -> None:
        """Deliver in the outbox's order, back to back, until empty or told to wait."""
        try:
            while self.state is SenderState.SENDING and (state := self._next()):
                try:
                    record = await self.client.submit_device_state(
                        self.device_id, state
                    )
                except Exception as err:  # noqa: BLE001 - the loop never dies
                    self._backlog.failed()
                    self._failed(state, err)
                else:
                    self._delivered(state, record)
        finally:
            if self.state is SenderState.SENDING:
                self.state = SenderState.IDLE

    def _next(self) -> DeviceState | None:
        """Return the record to send now: the current state, or the backlog once due."""
        outbox = self.outbox
        if not outbox:  # emptied by a rejection or the bounds too
            self._backlog.drained()
            return None
        if (state := outbox.peek(backlog=False)) is not None:
            return state
        return outbox.peek() if self._backlog.open(len(outbox)) else None

    def _drained(self) -> None:
        """The outbox is empty; if the backlog ended the drain, close it."""
        self._backlog.drained()
        if self.outbox.drain_ended_stale and self.on_drain_end is not None:
            self.on_drain_end()

    def _delivered(self, state: DeviceState, record: DeviceStateRecord) -> None:
        self.outbox.delivered(state)
        if self._outage_logged:
            self._outage_logged = False
            LOGGER.info(
                "The Flatpeak API is reachable again; %s queued record(s) to deliver",
                len(self.outbox),
            )
        self.status.show_delivered(state, record, self.outbox)
        self._waiters.resolve(state, record)
        if not self.outbox:
            self._drained()
        if (gap := self._pace.accepted()) and self.outbox:
            self._wait(gap, may_retry_now=True)

    def _failed(self, state: DeviceState, err: Exception) -> None:
        verdict = classify(err)
        if verdict.action is Action.REJECT:
            LOGGER.warning("Flatpeak rejected a device state: %s", describe(verdict))
            self.outbox.reject(state)
            self._waiters.resolve(
                state,
                SubmissionError("submission_rejected", message=describe(verdict)),
            )
            self.status.show_failure(
                verdict,
                self.outbox,
                consecutive_failures=0,
                throttle=bool(self.outbox),
            )
            return
        self.outbox.release()
        if verdict.action is Action.PAUSE:
            self.pause(verdict)
            return
        failures = self.status.current.consecutive_failures + 1
        if verdict.code is ErrorCode.RATE_LIMITED:
            self._pace.rate_limited()
        delay = max(
            verdict.retry_after
            if verdict.retry_after is not None
            else backoff_delay(failures),
            self._pace.gap,
        )
        self._log_retry(verdict, err, delay)
        self._wait(delay, may_retry_now=verdict.retry_after is None)
        self._failure(verdict)

    def _failure(self, verdict: Verdict) -> None:
        """Publish a failure that keeps the record, and fail the waiters."""
        self.status.show_failure(
            verdict,
            self.outbox,
            consecutive_failures=self.status.current.consecutive_failures + 1,
        )
        self._waiters.fail_all(
            SubmissionError("submission_failed", message=describe(verdict))
        )

    def _log_retry(self, verdict: Verdict, err: Exception, delay: float) -> None:
        """Log an outage once (and its end), anything unexpected, else debug."""
        if verdict.connected is False and not self._outage_logged:
            self._outage_logged = True
            LOGGER.warning(
                "The Flatpeak API is unavailable (%s); records are queued and "
                "retried with backoff",
                describe(verdict),
            )
        elif verdict.code is ErrorCode.UNEXPECTED_RESPONSE:
            LOGGER.warning("Unexpected answer from Flatpeak (%s)", describe(verdict))
            LOGGER.debug("Unexpected failure", exc_info=err)
        else:
            LOGGER.debug(
                "Submission failed (%s); retry in %.1f s", describe(verdict), delay
            )

    # --- timers and waiters ---------------------------------------------------

    def _wait(self, delay: float, *, may_retry_now: bool) -> None:
        if self.state is SenderState.PAUSED:
            # Paused or stopped while the request was in flight: its outcome is
            # recorded, but only a resume (or the next start) sends again.
            return
        self.state = SenderState.WAITING
        self._may_retry_now = may_retry_now
        self._timer = async_call_later(self.hass, delay, self._resume)

    @callback
    def _resume(self, _now: datetime) -> None:
        self._timer = None
        self.state = SenderState.IDLE
        self._kick()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None

    def _queued(self) -> SubmissionError:
        return SubmissionError(
            "submission_queued", status=self.status.current.status.value
        )

    @callback
    def stop(self) -> None:
        """Stop the timers and answer the waiters (at unload and shutdown)."""
        self._cancel_timer()
        self._backlog.cancel()
        self.state = SenderState.PAUSED
        self._waiters.fail_all(SubmissionError("unloaded"))
