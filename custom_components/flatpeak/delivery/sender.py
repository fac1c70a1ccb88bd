"""The sender: delivers the outbox to Flatpeak, one request at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from ..account.device import DeviceContext
from ..api import DeviceState, DeviceStateRecord, FlatpeakClient, FlatpeakError
from ..const import ACTION_TIMEOUT, DOMAIN, ErrorCode
from ..mapping.readings import SnapshotError
from .backlog import BacklogGate
from .errors import Action, SubmissionError, Verdict, classify, describe, queued_error
from .events import DeliveryEvents
from .outbox import Outbox
from .recheck import PauseChecks
from .retry import RetryTimes
from .status import StatusPublisher
from .waiters import Waiters


class SenderState(StrEnum):
    """Where the sender is. Only ``IDLE`` starts a delivery when a record arrives.

    - ``IDLE``: no request in flight and no timer; a new record starts a delivery.
    - ``SENDING``: the delivery task runs, with exactly one request in flight;
      records are sent back to back while Flatpeak answers 2xx.
    - ``WAITING``: a timer restarts delivery: the backoff after a failure, the
      ``Retry-After`` Flatpeak asked for, or the slower pace after a 429.
    - ``PAUSED``: Flatpeak refused something only the user can fix (credentials,
      device, API URL). Records keep queuing; the fix reloads the entry, or a
      ``Recheck`` finds Flatpeak answering right again and resumes.
    """

    IDLE = "idle"
    SENDING = "sending"
    WAITING = "waiting"
    PAUSED = "paused"


class Sender:
    """Owns the outbox and the client: delivery, retries, pause, the action's waiters.

    Order: the outbox says what goes next (the current state, then the
    backlog oldest first). After a failure, and at start, the backlog waits a
    random delay once per drain (``delivery/backlog.py``; the current state never
    does); one request is in flight at a time, and the pace after a 429 holds
    for every record. When the backlog ended the drain (Flatpeak's last record is
    older than the newest it has), ``on_drain_end`` asks the scheduler for a
    fresh snapshot, which closes the drain.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        context: DeviceContext,
        client: FlatpeakClient,
        outbox: Outbox,
        status: StatusPublisher,
    ) -> None:
        """Deliver ``outbox`` with ``client``; report through ``status``."""
        self.hass = hass
        self.context = context
        self.log = context.log
        self.client = client
        self.outbox = outbox
        self.status = status
        self.device_id = status.device_id
        self.state = SenderState.IDLE
        self._timer: CALLBACK_TYPE | None = None
        self._times = RetryTimes()
        self._paused_for: ErrorCode | None = None
        self._checks = PauseChecks(
            hass, context, client, self.resume, self._recheck_failed
        )
        self._waiters = Waiters(hass)
        self._outage_logged = False
        # The scheduler takes a snapshot when the backlog ended a drain.
        self.on_drain_end: Callable[[], None] | None = None
        self._backlog = BacklogGate(hass, self._kick)
        # What automations may react to (the "Flatpeak delivery" entity).
        self.events = DeliveryEvents()

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
        self.status.show_data_ok(paused=self.state is SenderState.PAUSED)
        self.status.show_counts(self.outbox)
        self._kick()

    @callback
    def snapshot_failed(self, err: SnapshotError) -> None:
        """Show why no snapshot was taken, unless a pause says more."""
        self.status.show_snapshot_problem(err, paused=self.state is SenderState.PAUSED)

    async def async_submit(self, state: DeviceState) -> DeviceStateRecord:
        """Queue ``state``; when it can be tried now, wait until Flatpeak has it.

        Tried now when idle or sending, and during a backoff (retried now).
        During a wait Flatpeak asked for (a ``Retry-After``, the pace after a
        429) or a pause, raise ``SubmissionError("submission_queued…")`` at
        once, saying when it will be tried. Raise it too when the record was
        rejected, failed (it stays queued), or is still queued after
        ``ACTION_TIMEOUT``.
        """
        if not self._may_try_now():
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
        """End a backoff now (not a wait Flatpeak asked for).

        If this manual attempt fails, the backoff stays as it was.
        """
        if self.state is SenderState.WAITING and self._may_try_now():
            self._times.try_now()
            self._cancel_timer()
            self.state = SenderState.IDLE
            self._kick()

    def _may_try_now(self) -> bool:
        """Return whether a record queued now is tried at once."""
        if self.state is SenderState.WAITING:
            return self._times.may_try_now()
        return self.state is not SenderState.PAUSED

    @callback
    def pause(self, verdict: Verdict) -> None:
        """Stop delivering until what Flatpeak refused is fixed; check it again.

        Refused credentials are the account's: it asks for new ones once and
        checks them again for every device (``account/account.py``); it resumes this
        sender with ``resume``. Anything else is checked again here
        (``PauseChecks``); the same cause met again right after a passed check
        is logged once.
        """
        if self._checks.repeats(verdict.code):
            self.log.debug("Paused again: %s", describe(verdict))
        else:
            self.log.error("Submissions to Flatpeak paused: %s", describe(verdict))
            self.events.paused(verdict.code)
        self._cancel_timer()
        self._checks.cancel()
        self.state = SenderState.PAUSED
        self._paused_for = verdict.code
        self._times.reset()
        self._failure(verdict)
        if verdict.code is ErrorCode.AUTH_FAILED:
            self.context.credentials_refused(verdict)
            return
        self._checks.start(verdict.code)

    @callback
    def resume(self) -> None:
        """Flatpeak answers right again: clear the pause and deliver."""
        self.log.info("Flatpeak answers again; submissions resume")
        code, self._paused_for = self._paused_for, None
        self.events.resuming(code)
        self._checks.resumed(code)
        self.state = SenderState.IDLE
        self.status.show_resumed(self.outbox)
        if (left := self._times.asked_left()) > 0:
            # Paused during a Retry-After (another device met refused
            # credentials): the rest of the wait Flatpeak asked for still binds.
            self._wait(left)
            return
        self._kick()

    @property
    def paused_for(self) -> ErrorCode | None:
        """Return what the sender is paused for (None when it is not)."""
        return self._paused_for if self.state is SenderState.PAUSED else None

    @callback
    def _recheck_failed(self, err: Exception) -> None:
        """Still paused; another problem only the user can fix replaces it."""
        verdict = classify(err)
        if verdict.action is Action.PAUSE and verdict.code is not self._paused_for:
            self.pause(verdict)
        else:
            self.log.debug("Still paused (%s)", describe(verdict))

    # --- delivery -------------------------------------------------------------

    @callback
    def _kick(self) -> None:
        if self.state is SenderState.IDLE and self.outbox:
            self.state = SenderState.SENDING
            self.context.async_create_background_task(
                self._async_deliver(), f"{DOMAIN} deliver"
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
            self.events.drained()
            return None
        if (state := outbox.peek(backlog=False)) is not None:
            self.events.sending(backlog=False)
            return state
        if not self._backlog.open(len(outbox)):
            return None
        self.events.sending(backlog=True)
        return outbox.peek()

    def _drained(self) -> None:
        """The outbox is empty; if the backlog ended the drain, close it."""
        self._backlog.drained()
        self.events.drained()
        if self.outbox.drain_ended_stale and self.on_drain_end is not None:
            self.on_drain_end()

    def _delivered(self, state: DeviceState, record: DeviceStateRecord) -> None:
        self.outbox.delivered(state)
        self._checks.proven()
        self.events.delivered()
        if self._outage_logged:
            self._outage_logged = False
            self.log.info(
                "The Flatpeak API is reachable again; %s queued record(s) to deliver",
                len(self.outbox),
            )
        self.status.show_delivered(
            state, record, self.outbox, awaited=self._waiters.waiting_for(state)
        )
        self._waiters.resolve(state, record)
        if not self.outbox:
            self._drained()
        if (gap := self._times.accepted()) and self.outbox:
            self._wait(gap)

    def _failed(self, state: DeviceState, err: Exception) -> None:
        verdict = classify(err)
        if verdict.action is Action.REJECT:
            self.log.warning("Flatpeak rejected a device state: %s", describe(verdict))
            self._times.reset()
            self._checks.proven()
            self.outbox.reject(state)
            flatpeak_code = err.code if isinstance(err, FlatpeakError) else None
            self.events.rejected(verdict.code, flatpeak_code)
            self._waiters.resolve(
                state,
                SubmissionError("submission_rejected", message=describe(verdict)),
            )
            self.status.show_failure(verdict, self.outbox, consecutive_failures=0)
            if not self.outbox:
                self._drained()
            return
        self.outbox.release()
        if verdict.action is Action.PAUSE:
            self.pause(verdict)
            return
        delay = self._times.failed(
            verdict.retry_after, rate_limited=verdict.code is ErrorCode.RATE_LIMITED
        )
        self._log_retry(verdict, err, delay)
        self._wait(delay)
        self._failure(verdict)

    def _failure(self, verdict: Verdict) -> None:
        """Publish a failure that keeps the record, and fail the waiters.

        A pause tells them what the user has to fix, as it tells later calls.
        """
        self.status.show_failure(
            verdict,
            self.outbox,
            consecutive_failures=self.status.current.consecutive_failures + 1,
        )
        self._waiters.fail_all(
            queued_error(verdict.code, None)
            if verdict.action is Action.PAUSE
            else SubmissionError("submission_failed", message=describe(verdict))
        )

    def _log_retry(self, verdict: Verdict, err: Exception, delay: float) -> None:
        """Log an outage once (and its end), anything unexpected, else debug."""
        if verdict.connected is False and not self._outage_logged:
            self._outage_logged = True
            # Info (core's log-when-unavailable); "reachable again" ends it.
            self.log.info(
                "The Flatpeak API is unavailable (%s); records are queued and "
                "retried with backoff",
                describe(verdict),
            )
        elif verdict.code is ErrorCode.UNEXPECTED_RESPONSE:
            self.log.warning("Unexpected answer from Flatpeak (%s)", describe(verdict))
            self.log.debug("Unexpected failure", exc_info=err)
        else:
            self.log.debug(
                "Submission failed (%s); retry in %.1f s", describe(verdict), delay
            )

    # --- timers and waiters ---------------------------------------------------

    def _wait(self, delay: float) -> None:
        if self.state is SenderState.PAUSED:
            # Paused or stopped while the request was in flight: its outcome is
            # recorded, but only a resume (or the next start) sends again.
            return
        self.state = SenderState.WAITING
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
        if self.state is SenderState.PAUSED:
            return queued_error(self._paused_for, None)
        waiting = self.state is SenderState.WAITING
        return queued_error(None, self._times.due if waiting else None)

    @callback
    def stop(self) -> None:
        """Stop the timers and answer the waiters (at unload and shutdown)."""
        self._cancel_timer()
        self._checks.cancel()
        self._backlog.cancel()
        self.state = SenderState.PAUSED
        self._waiters.fail_all(SubmissionError("unloaded"))
