"""Asking Flatpeak again, on its own, while delivery is paused.

A pause is for something only the user can fix, but the answer that caused it
may be wrong or may heal (a CDN page answering 404, a device restored, a key
revoked by mistake and restored). ``Recheck`` asks again on a schedule until
the answer is right; it knows nothing of the sender, so that a check about the
account (the credentials) can move to an account-level owner unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from ..account.device import DeviceContext
from ..account.issues import async_create_device_issue, async_delete_device_issue
from ..api import FlatpeakClient
from ..const import DOMAIN, RECHECK_CREDENTIALS, RECHECK_FIRST, RECHECK_MAX, ErrorCode

if TYPE_CHECKING:
    from ..account.runtime import FlatpeakConfigEntry

type Probe = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RecheckPlan:
    """When to ask again: ``first`` seconds after the pause, doubling up to ``longest``."""

    first: float
    longest: float

    def delay(self, checks: int) -> float:
        """Return the wait before the check after ``checks`` failed ones."""
        return float(min(self.longest, self.first * 2 ** min(checks, 16)))


DEVICE_OR_URL_PLAN = RecheckPlan(RECHECK_FIRST, RECHECK_MAX)
CREDENTIALS_PLAN = RecheckPlan(RECHECK_CREDENTIALS, RECHECK_CREDENTIALS)


def plan_and_probe(
    code: ErrorCode, client: FlatpeakClient, device_id: str
) -> tuple[RecheckPlan, Probe]:
    """Return how and when to check again after a pause for ``code``.

    An unknown device is back when ``GET /devices/{id}`` answers 200; a wrong
    API URL or refused credentials are fixed when a token is issued.
    """
    if code is ErrorCode.DEVICE_NOT_FOUND:
        return DEVICE_OR_URL_PLAN, partial(client.get_device, device_id)
    if code is ErrorCode.AUTH_FAILED:
        return CREDENTIALS_PLAN, client.authenticate
    return DEVICE_OR_URL_PLAN, client.authenticate


class Recheck:
    """Runs ``probe`` on ``plan`` until it passes; ``cancel`` stops it for good.

    ``on_passed`` is called once, when the probe returns; ``on_failed`` with
    each failure, after the next check is scheduled (it may cancel it).
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: FlatpeakConfigEntry,
        plan: RecheckPlan,
        probe: Probe,
        on_passed: Callable[[], None],
        on_failed: Callable[[Exception], None],
        *,
        checks: int = 0,
    ) -> None:
        """Prepare the checks; nothing runs before ``start``.

        ``checks`` failed ones before this one (the wait goes on doubling).
        """
        self._hass = hass
        self._entry = entry
        self._plan = plan
        self._probe = probe
        self._on_passed = on_passed
        self._on_failed = on_failed
        self._checks = checks
        self._timer: CALLBACK_TYPE | None = None
        self._cancelled = False

    @property
    def checks(self) -> int:
        """Return how many checks failed so far."""
        return self._checks

    @callback
    def start(self) -> None:
        """Schedule the first check."""
        self._schedule()

    @callback
    def cancel(self) -> None:
        """Stop checking; a check in flight is ignored when it answers."""
        self._cancelled = True
        if self._timer is not None:
            self._timer()
            self._timer = None

    def _schedule(self) -> None:
        self._timer = async_call_later(
            self._hass, self._plan.delay(self._checks), self._due
        )

    @callback
    def _due(self, _now: datetime) -> None:
        self._timer = None
        self._entry.async_create_background_task(
            self._hass, self._async_check(), f"{DOMAIN} recheck"
        )

    async def _async_check(self) -> None:
        try:
            await self._probe()
        except Exception as err:  # noqa: BLE001 - any failure: ask again later
            if self._cancelled:
                return
            self._checks += 1
            self._schedule()
            self._on_failed(err)
            return
        if not self._cancelled:
            self._cancelled = True
            self._on_passed()


class PauseChecks:
    """One device's checks while paused, until a submission proves the cause gone.

    A passed check resumes delivery, but only Flatpeak's next answer to a
    submission proves the cause gone: a CDN that answers 404 to the ``PUT``
    alone passes every lookup of the device. Until then the repair issue
    stays, and if the submission meets the same cause again the checks go on
    from where they were (the wait keeps doubling, up to an hour) instead of
    from the first step: one issue, and a ``PUT`` an hour at most, for as
    long as it lasts. Refused credentials are the account's
    (``FlatpeakAccount``): it asks for them and checks them.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        context: DeviceContext,
        client: FlatpeakClient,
        on_passed: Callable[[], None],
        on_failed: Callable[[Exception], None],
    ) -> None:
        """Check for ``context``'s device with ``client``; report to the sender."""
        self._hass = hass
        self._context = context
        self._client = client
        self._on_passed = on_passed
        self._on_failed = on_failed
        self._recheck: Recheck | None = None
        # What a passed check resumed for, until a submission proves it gone.
        self._unproven: ErrorCode | None = None
        self._failed_checks = 0

    def repeats(self, code: ErrorCode) -> bool:
        """Return whether a pause for ``code`` meets again what a check passed."""
        return code is self._unproven

    @callback
    def start(self, code: ErrorCode) -> None:
        """Ask the user to fix ``code`` (if a form can) and check it on a schedule."""
        self.cancel()
        # The passed check was wrong: it counts as failed, the wait doubles.
        checks = self._failed_checks + 1 if self.repeats(code) else 0
        self._unproven = None
        if code is ErrorCode.DEVICE_NOT_FOUND:
            async_create_device_issue(self._hass, self._context)
        plan, probe = plan_and_probe(code, self._client, self._context.device_id)
        self._recheck = recheck = Recheck(
            self._hass,
            self._context.entry,
            plan,
            probe,
            lambda: self._passed(recheck),
            self._on_failed,
            checks=checks,
        )
        recheck.start()

    @callback
    def _passed(self, recheck: Recheck) -> None:
        self._failed_checks = recheck.checks
        self._recheck = None
        self._on_passed()

    @callback
    def resumed(self, code: ErrorCode | None) -> None:
        """The pause for ``code`` ended: by a passed check, or the account's.

        Every check needs a token: the credentials work, for every device of
        the account (``FlatpeakAccount.credentials_work``: a re-authentication
        is moot). The device's repair issue stays until ``proven``.
        """
        self._recheck = None
        self._unproven = code
        self._context.credentials_work()

    @callback
    def proven(self) -> None:
        """Flatpeak answered a submission about the device: the pause is over.

        The device issue goes (also one of an earlier pause that changed to
        another problem meanwhile).
        """
        if self._unproven is not None:
            self._unproven = None
            self._failed_checks = 0
            async_delete_device_issue(self._hass, self._context.storage_id)

    @callback
    def cancel(self) -> None:
        """Stop checking (the carried count stays)."""
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None


@callback
def async_abort_reauth(hass: HomeAssistant, entry: FlatpeakConfigEntry) -> None:
    """Withdraw the account's re-authentication request (its credentials work)."""
    for flow in entry.async_get_active_flows(hass, {SOURCE_REAUTH}):
        hass.config_entries.flow.async_abort(flow["flow_id"])
