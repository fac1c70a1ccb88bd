"""What delivery tells automations: the events of the "Flatpeak delivery" entity.

The sender reports here what a user may want to react to: a record Flatpeak
rejected, a pause (only the user can fix it), the resume, and the end of a
drain that delivered a backlog. A normal delivery is no event. Events fired
before the entity listens (a pause found while the entry starts) wait for it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from homeassistant.core import CALLBACK_TYPE, callback

from ..const import ErrorCode

ATTR_REASON = "reason"  # an ErrorCode: why a record was rejected, or why paused
ATTR_ERROR_CODE = "error_code"  # Flatpeak's own code of a rejection
ATTR_RECORDS = "records"  # how many records the drain of a backlog delivered

# Events kept while the entity does not listen (disabled, not yet added).
PENDING_MAX = 10


class DeliveryEvent(StrEnum):
    """The event types of the "Flatpeak delivery" entity."""

    REJECTED = "rejected"
    PAUSED = "paused"
    RESUMED = "resumed"
    BACKLOG_DELIVERED = "backlog_delivered"


type DeliveryListener = Callable[[DeliveryEvent, dict[str, Any]], None]


class DeliveryEvents:
    """One device's delivery events, from its sender to its event entity.

    A drain is the records delivered since the outbox was last empty; it is
    news (``backlog_delivered``) when one of them was from the backlog (not
    the current state: a record kept through an outage, a pause, a restart).
    A pause the entity remembers from before a reload (a repair or new
    credentials reload the entry) ends with the first record delivered.
    """

    def __init__(self) -> None:
        """Start with nobody listening and no drain."""
        self._listener: DeliveryListener | None = None
        self._pending: deque[tuple[DeliveryEvent, dict[str, Any]]] = deque(
            maxlen=PENDING_MAX
        )
        self._drained = 0  # records delivered in this drain
        self._backlog = False  # one of them was from the backlog
        self._in_flight_backlog = False
        self._paused_before: str | None = None  # the pause the entity restored

    @callback
    def listen(
        self, listener: DeliveryListener, *, paused_for: str | None = None
    ) -> CALLBACK_TYPE:
        """Send the events to ``listener``, those waiting first; return the stop.

        ``paused_for``: the entity's last event was a pause for this reason. A
        pause found again at start is then no news.
        """
        pending = list(self._pending)
        self._pending.clear()
        if any(event is DeliveryEvent.PAUSED for event, _ in pending):
            pending = [
                (event, attributes)
                for event, attributes in pending
                if event is not DeliveryEvent.PAUSED
                or attributes[ATTR_REASON] != paused_for
            ]
        else:
            self._paused_before = paused_for
        self._listener = listener
        for event, attributes in pending:
            listener(event, attributes)

        @callback
        def stop() -> None:
            self._listener = None

        return stop

    @callback
    def _fire(self, event: DeliveryEvent, **attributes: Any) -> None:
        if self._listener is None:
            self._pending.append((event, attributes))
        else:
            self._listener(event, attributes)

    # --- what the sender reports ------------------------------------------------

    @callback
    def rejected(self, reason: ErrorCode, error_code: str | None) -> None:
        """Flatpeak refused a record for good; ``error_code`` is its own code."""
        self._fire(DeliveryEvent.REJECTED, reason=reason, error_code=error_code)

    @callback
    def paused(self, reason: ErrorCode) -> None:
        """Delivery paused: only the user can fix ``reason``."""
        self._paused_before = None
        self._fire(DeliveryEvent.PAUSED, reason=reason)

    @callback
    def resumed(self, reason: ErrorCode | str | None) -> None:
        """Delivery resumed after a pause for ``reason``."""
        self._paused_before = None
        self._fire(DeliveryEvent.RESUMED, reason=reason)

    @callback
    def resuming(self, reason: ErrorCode | str | None) -> None:
        """A check passed: ``resumed`` fires when Flatpeak accepts a record.

        Until then the cause may come back (a device check passes while the
        submission still fails): a pause met again is no new event.
        """
        if reason is not None:
            self._paused_before = reason

    @callback
    def sending(self, *, backlog: bool) -> None:
        """A record goes now: the current state, or one of the backlog."""
        self._in_flight_backlog = backlog

    @callback
    def delivered(self) -> None:
        """Flatpeak accepted the record in flight."""
        if (reason := self._paused_before) is not None:
            self.resumed(reason)
        self._drained += 1
        self._backlog |= self._in_flight_backlog
        self._in_flight_backlog = False

    @callback
    def drained(self) -> None:
        """The outbox is empty: the drain is over (news if it had a backlog)."""
        if self._backlog:
            self._fire(DeliveryEvent.BACKLOG_DELIVERED, records=self._drained)
        self._drained = 0
        self._backlog = False
