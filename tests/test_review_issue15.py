"""Independent review of issue 15: what a hostile reviewer found, one test each.

Every test here reproduces one finding with a fixed seed or a fixed script.
The findings that were fixed pass; the others are ``xfail(strict=True)`` with
the reason, so that the suite stays green and the lead can decide. The long
fuzzers that found them are ``tests/fuzz_review15.py`` (``scripts/fuzz``).
"""

from datetime import UTC, datetime, timedelta
import errno
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flatpeak.api import DeviceState
from custom_components.flatpeak.issues import device_issue_id
from custom_components.flatpeak.journal import Journal
from custom_components.flatpeak.outbox import Outbox
from custom_components.flatpeak.outbox_writer import FLUSH_DELAY
from flatpeak_sandbox import FlatpeakSandbox

from .conftest import (
    SUBENTRY_ID,
    Clocks,
    advance,
    drain,
    entity_id,
    runtime_of,
    set_soc,
    state_of,
)
from .test_outbox import FailingDisk, tick

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def record(minutes_ago: float, soc: float = 50) -> DeviceState:
    return DeviceState(
        time=NOW - timedelta(minutes=minutes_ago),
        state_of_charge_percent=soc,
        target_state_of_charge_percent=80,
        record_reference_id=f"ref-{minutes_ago}-{soc}",
    )


@pytest.fixture
def journal(hass: HomeAssistant) -> Path:
    return Path(hass.config.path(".storage", "flatpeak.entry.outbox.jsonl"))


async def load(hass: HomeAssistant) -> Outbox:
    box = Outbox(hass, "entry", max_age=DAY, max_records=10_000)
    await box.async_load()
    return box


async def keep_unreadable(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, journal: Path
) -> FailingDisk:
    """Start once with every read of the journal failing: it is kept aside."""
    disk = FailingDisk(monkeypatch, journal.name)
    disk.failing = True
    box = await load(hass)
    assert not box
    assert box.unreadable
    await box.async_close()
    disk.failing = False
    return disk


# --- the journal's unreadable-file handling --------------------------------------


async def test_a_kept_file_merged_while_the_disk_refuses_the_rewrite_is_merged_once(
    hass: HomeAssistant,
    journal: Path,
    monkeypatch: pytest.MonkeyPatch,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The merge's rewrite fails once: the kept file must not be merged again.

    A start merges a kept file (``.unreadable-1``) into the journal, but the
    journal's rewrite fails (the same failing SD card); the writer retries and
    succeeds a moment later, but the kept file is removed only after the flush
    at load, so it stays. Records of it delivered meanwhile come back at the
    next start (sent twice), and its counters are added again (Rejected goes
    up without a rejection).
    """
    freezer.move_to(NOW)
    first = await load(hass)
    a, b, rejected = record(3, 1), record(2, 2), record(1, 9)
    for state in (a, b, rejected):
        first.append(state)
    first.reject(rejected)
    await first.async_close()
    await keep_unreadable(hass, monkeypatch, journal)

    real_rewrite = Journal.rewrite
    failures = [OSError(errno.ENOSPC, "No space left on device")]

    def rewrite(self: Journal, *args: Any) -> None:
        if failures:
            raise failures.pop()
        real_rewrite(self, *args)

    monkeypatch.setattr(Journal, "rewrite", rewrite)
    third = await load(hass)
    assert list(third) == [a, b]
    assert third.rejected == 1
    await tick(hass, freezer, FLUSH_DELAY)  # the writer's retry succeeds
    head = third.peek()
    assert head == b  # the current state first
    third.delivered(head)
    await third.async_close()

    fourth = await load(hass)
    found = (list(fourth), fourth.rejected)
    # On main: ([a, b], 2): b was delivered and comes back, the rejection counts twice.
    assert found == ([a], 1)
    await fourth.async_close()


async def test_a_kept_file_that_cannot_be_removed_does_not_fail_the_start(
    hass: HomeAssistant,
    journal: Path,
    monkeypatch: pytest.MonkeyPatch,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Its records are in the journal; removing the kept file fails (EIO).

    ``Journal.remove_kept`` ignores only ``FileNotFoundError``: any other
    error of the unlink leaves ``Outbox.async_load``, and so the entry's
    setup, which then ends in ``SETUP_ERROR`` (no retry): nothing is
    delivered until Home Assistant restarts, and at every start the same.
    """
    freezer.move_to(NOW)
    first = await load(hass)
    a = record(3, 1)
    first.append(a)
    await first.async_close()
    await keep_unreadable(hass, monkeypatch, journal)
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        if ".unreadable-" in path.name:
            raise OSError(errno.EIO, "Input/output error", str(path))
        real_unlink(path, missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    again = await load(hass)  # on main: OSError [Errno 5] Input/output error
    assert list(again) == [a]
    await again.async_close()


async def test_the_entry_starts_although_a_kept_file_cannot_be_removed(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    battery: None,
    monkeypatch: pytest.MonkeyPatch,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The same through the integration: on main the entry ends in SETUP_ERROR."""
    freezer.move_to(NOW)
    path = Path(hass.config.path(".storage", f"flatpeak.{SUBENTRY_ID}.outbox.jsonl"))
    saved = Outbox(hass, SUBENTRY_ID, max_age=DAY, max_records=10_000)
    await saved.async_load()
    a = record(3, 1)
    saved.append(a)
    await saved.async_close()
    disk = FailingDisk(monkeypatch, path.name)
    disk.failing = True
    kept = Outbox(hass, SUBENTRY_ID, max_age=DAY, max_records=10_000)
    await kept.async_load()
    await kept.async_close()
    disk.failing = False
    real_unlink = Path.unlink

    def unlink(target: Path, missing_ok: bool = False) -> None:
        if ".unreadable-" in target.name:
            raise OSError(errno.EIO, "Input/output error", str(target))
        real_unlink(target, missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert config_entry.state is ConfigEntryState.LOADED
    await drain(hass, freezer, config_entry)
    assert a.to_json() in sandbox.states()


# --- the rechecks while paused -------------------------------------------------------


@pytest.mark.usefixtures("at_start")
async def test_a_put_only_404_is_rechecked_with_a_doubling_wait(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A CDN answering 404 to the PUT only: the device check passes every time.

    ``Recheck`` looks the device up (``GET /devices/{id}``), which answers
    200; the sender resumes, the PUT meets the 404 again and ``pause`` starts
    a new ``Recheck`` from its first step. The doubling never happens: a PUT,
    an ERROR line ("Submissions to Flatpeak paused") and a repair issue
    raised and withdrawn every minute, for as long as the CDN answers so.
    """
    issue_id = device_issue_id(SUBENTRY_ID)
    sandbox.fail_next(404, 10_000, endpoint="state")
    raised = 0

    def count(event: Any) -> None:
        nonlocal raised
        if event.data["issue_id"] == issue_id and event.data["action"] == "create":
            raised += 1

    hass.bus.async_listen(ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED, count)
    set_soc(hass, 61)
    for _ in range(120):  # two hours
        await advance(hass, freezer, 60)
    puts = len(sandbox.requests_to("state"))
    paused = caplog.text.count("Submissions to Flatpeak paused")
    # With a wait doubling from 1 min up to 1 h: checks at 1, 3, 7, 15, 31,
    # 63 and 123 minutes. On main: 120 PUTs, 120 errors, 120 issues raised.
    assert puts <= 10, (puts, paused, raised)
    assert paused <= 10, (puts, paused, raised)
    assert raised == 1, (puts, paused, raised)


# --- the status tells the truth ------------------------------------------------------


@pytest.mark.usefixtures("at_start")
async def test_a_delivery_does_not_hide_that_no_snapshot_can_be_taken(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The state of charge became unavailable during an outage.

    The record queued before it is delivered when Flatpeak is back:
    ``show_delivered`` sets ``ok`` and *Last error* ``none``, although no
    snapshot can be taken; the status says so again only at the next
    heartbeat (up to 5 minutes later) or the next change.
    """
    await sandbox.stop()
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    hass.states.async_set("sensor.battery_soc", "unavailable")
    await advance(hass, freezer, 31)
    await sandbox.start()
    for _ in range(40):  # the backoff's third step at most
        await advance(hass, freezer, 1)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [61]
    assert state_of(hass, "submission_status") == "waiting_for_data"


# --- the order: the drain ends with the current state ---------------------------------


@pytest.mark.usefixtures("at_start")
async def test_a_drain_whose_last_record_is_refused_still_ends_with_the_current_state(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    battery: None,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    random_source: Any,
) -> None:
    """Flatpeak refuses (422) the backlog's last record.

    The current state (61) went first; the backlog (58, 59, 60) follows, and
    Flatpeak refuses 60. ``_failed``'s rejection path never calls
    ``_drained``: no closing snapshot, and the last record Flatpeak received
    is 59, older than the current state it had; it stays so until the next
    change or heartbeat (up to 5 minutes).
    """
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await advance(hass, freezer, 1)
    await sandbox.stop()
    for soc in (58, 59, 60, 61):
        set_soc(hass, soc)
        await advance(hass, freezer, 31)
    real_handler = sandbox._handle_state

    async def refuse_60(request: Any) -> Any:
        if request["json"]["state_of_charge_percent"] == 60:
            return sandbox._error(422, "invalid_state", "refused")
        return await real_handler(request)

    sandbox._handle_state = refuse_60  # type: ignore[method-assign]
    await sandbox.start()
    for _ in range(120):  # the backoff, then the backlog's delay
        await advance(hass, freezer, 1)
    assert not runtime_of(config_entry).outbox
    socs = [b["state_of_charge_percent"] for b in sandbox.states()]
    assert socs[:4] == [55, 61, 58, 59]
    assert socs[-1] == 61, "the last record Flatpeak received is not the current state"


# --- a wall-clock step -----------------------------------------------------------


@pytest.mark.usefixtures("at_start")
async def test_last_submission_is_never_in_the_future_after_a_step_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    clocks: Clocks,
) -> None:
    """The wall clock steps back a day (a clock that ran ahead, corrected).

    ``StatusCoordinator._next`` holds a later *Last submission* back while it
    is less than ``LAST_SUBMISSION_STEP`` past the shown one; after a step
    back every new acceptance is *before* the shown one (a negative
    difference, less than an hour), so the entity keeps showing a time a day
    in the future, for a day and an hour.
    """
    set_soc(hass, 61)
    await clocks.advance(31)
    await clocks.advance(1)
    await clocks.step(-DAY)
    for soc in (62, 63, 64):
        set_soc(hass, soc)
        await clocks.advance(31)
    assert [b["state_of_charge_percent"] for b in sandbox.states()][-1] == 64
    shown = datetime.fromisoformat(state_of(hass, "last_submission"))
    # On main: 2026-11-28 10:00:10, a day after now (2026-11-27 10:02).
    assert shown <= dt_util.utcnow(), "Last submission is a day in the future"


@pytest.mark.usefixtures("at_start")
async def test_a_step_forward_does_not_end_a_retry_after(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    clocks: Clocks,
) -> None:
    """NTP steps the wall clock forward during a 429's Retry-After of 120 s.

    ``RetryTimes.not_before`` is a wall-clock time: after the step it lies in
    the past, ``may_try_now`` says yes, and the button (``retry_now``) ends
    the wait Flatpeak asked for and sends at once.
    """
    sandbox.fail_next(429, endpoint="state", retry_after="120")
    set_soc(hass, 61)
    await clocks.advance(1)
    assert [r.status for r in sandbox.requests_to("state")] == [429]
    await clocks.step(timedelta(hours=2))
    with pytest.raises(HomeAssistantError) as err:  # on main: sent, accepted
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": entity_id(hass, "submit_now", "button")},
            blocking=True,
        )
    assert err.value.translation_key == "submission_queued"
    await clocks.advance(1)
    # On main: [429, 200], the second one 2 s into the Retry-After's 120 s.
    assert [r.status for r in sandbox.requests_to("state")] == [429]


@pytest.mark.usefixtures("at_start")
async def test_a_step_back_and_a_failed_manual_attempt_do_not_stall_delivery(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    clocks: Clocks,
    random_source: Any,
) -> None:
    """The wall clock steps back a day during a backoff; the button is pressed.

    ``RetryTimes.failed`` keeps a failed manual attempt's retry time as the
    wall-clock ``due`` it found: after the step that is a day away, and the
    sender waits a day (``delay = manual_due - now``) with Flatpeak back.
    """
    await sandbox.stop()
    set_soc(hass, 61)
    await clocks.advance(1)  # cannot connect: the backoff's 5 s
    await clocks.step(-DAY)
    with pytest.raises(HomeAssistantError):  # a manual attempt: fails too
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": entity_id(hass, "submit_now", "button")},
            blocking=True,
        )
    await sandbox.start()
    for _ in range(60):  # ten minutes, the longest backoff
        await clocks.advance(10)
    # On main: nothing sent, the retry is a day away.
    assert [b["state_of_charge_percent"] for b in sandbox.states()][:1] == [61]


@pytest.mark.usefixtures("at_start")
async def test_a_refused_closing_snapshot_is_not_sent_again(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    battery: None,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    random_source: Any,
) -> None:
    """Flatpeak refuses the backlog's last record and the closing snapshot."""
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await advance(hass, freezer, 1)
    await sandbox.stop()
    for soc in (58, 59, 60, 61):
        set_soc(hass, soc)
        await advance(hass, freezer, 31)
    real_handler = sandbox._handle_state
    answered = 0

    async def refuse_from_the_fourth(request: Any) -> Any:
        nonlocal answered
        answered += 1
        if 4 <= answered < 50:  # 60, then the closing snapshot (and any more)
            return sandbox._error(422, "invalid_state", "refused")
        return await real_handler(request)

    sandbox._handle_state = refuse_from_the_fourth  # type: ignore[method-assign]
    await sandbox.start()
    for _ in range(120):
        await advance(hass, freezer, 1)
    assert not runtime_of(config_entry).outbox
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [55, 61, 58, 59]
    assert answered == 5, "a refused closing snapshot was taken and sent again"
