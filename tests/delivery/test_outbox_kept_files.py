"""A journal kept aside as unreadable: merged once, and never failing a start.

A start that cannot read the journal keeps it aside (``.unreadable-N``,
``test_outbox.py``); a later start merges it back. These tests come from the
independent review of issue 15 (F1, F2).
"""

from datetime import UTC, datetime, timedelta
import errno
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flatpeak.api import DeviceState
from custom_components.flatpeak.delivery.journal import Journal
from custom_components.flatpeak.delivery.outbox import Outbox
from custom_components.flatpeak.delivery.outbox_writer import FLUSH_DELAY
from flatpeak_sandbox import FlatpeakSandbox

from ..conftest import SUBENTRY_ID, drain
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


@pytest.fixture(autouse=True)
def _now(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOW)


@pytest.fixture
def journal(hass: HomeAssistant) -> Path:
    """Return the path of the storage ID ``entry``'s journal."""
    return Path(hass.config.path(".storage", "flatpeak.entry.outbox.jsonl"))


async def load(hass: HomeAssistant, storage_id: str = "entry") -> Outbox:
    box = Outbox(hass, storage_id, max_age=DAY, max_records=10_000)
    await box.async_load()
    return box


async def keep_unreadable(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    journal: Path,
    storage_id: str = "entry",
) -> None:
    """Start once with every read of the journal failing: it is kept aside."""
    disk = FailingDisk(monkeypatch, journal.name)
    disk.failing = True
    box = await load(hass, storage_id)
    assert not box
    assert box.unreadable
    await box.async_close()
    disk.failing = False


def unlink_fails_for_kept_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Removing a kept file fails (EIO); every other unlink works."""
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        if ".unreadable-" in path.name:
            raise OSError(errno.EIO, "Input/output error", str(path))
        real_unlink(path, missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)


async def test_a_kept_file_is_merged_once_although_the_rewrite_failed(
    hass: HomeAssistant,
    journal: Path,
    monkeypatch: pytest.MonkeyPatch,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The merge's rewrite fails once (the same failing SD card), then works.

    The kept file goes after the first rewrite that succeeds. It used to stay
    until a flush at load that had failed: the next start merged it again, so
    a record delivered meanwhile came back (sent twice) and its rejection
    counted twice.
    """
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
    assert (list(fourth), fourth.rejected) == ([a], 1)  # was ([a, b], 2)
    await fourth.async_close()


async def test_a_kept_file_that_cannot_be_removed_is_left_with_a_warning(
    hass: HomeAssistant,
    journal: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its records are in the journal; removing the kept file fails (EIO).

    The load used to raise the unlink's ``OSError``.
    """
    first = await load(hass)
    a = record(3, 1)
    first.append(a)
    await first.async_close()
    await keep_unreadable(hass, monkeypatch, journal)
    unlink_fails_for_kept_files(monkeypatch)
    caplog.clear()
    again = await load(hass)
    assert list(again) == [a]
    assert "Could not remove the outbox file" in caplog.text
    await again.async_close()


async def test_the_entry_starts_although_a_kept_file_cannot_be_removed(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    battery: None,
    monkeypatch: pytest.MonkeyPatch,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The same through the integration: it used to end in ``SETUP_ERROR``."""
    path = Path(hass.config.path(".storage", f"flatpeak.{SUBENTRY_ID}.outbox.jsonl"))
    saved = await load(hass, SUBENTRY_ID)
    a = record(3, 1)
    saved.append(a)
    await saved.async_close()
    await keep_unreadable(hass, monkeypatch, path, SUBENTRY_ID)
    unlink_fails_for_kept_files(monkeypatch)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert config_entry.state is ConfigEntryState.LOADED
    await drain(hass, freezer, config_entry)
    assert a.to_json() in sandbox.states()


async def test_two_kept_files_one_unreadable_for_longer_lose_nothing(
    hass: HomeAssistant,
    journal: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two starts keep two files aside; the first stays unreadable for a while.

    Every record comes back once (one was in both files), every rejection is
    counted once, and no file is left once all are merged.
    """
    a, b, c, d = record(6, 1), record(5, 2), record(4, 3), record(3, 4)
    r1, r2 = record(2, 8), record(1, 9)
    first = await load(hass)
    for state in (a, b, r1):
        first.append(state)
    first.reject(r1)
    await first.async_close()
    disk = FailingDisk(monkeypatch, journal.name)
    disk.failing = True
    second = await load(hass)  # kept-1 (a, b; 1 rejected), unreadable
    assert not second
    assert len(second.unreadable) == 1
    disk.failing = False
    failing = {"kept-1": True, "journal": False}
    real_open = Path.open

    def open_(path: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        reading = "r" in mode
        if reading and path.name.endswith(".unreadable-1") and failing["kept-1"]:
            raise OSError(errno.EIO, "Input/output error", str(path))
        if reading and path.name == journal.name and failing["journal"]:
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)
    for state in (c, b, r2):  # b again: the same record in both files
        second.append(state)
    second.reject(r2)
    await second.async_close()
    failing["journal"] = True
    third = await load(hass)  # kept-2 (c, b; 1 rejected) merged, kept-1 not
    assert list(third) == [c, b]
    assert len(third.unreadable) == 1
    assert third.rejected == 1
    third.append(d)
    await third.async_close()
    failing["kept-1"] = failing["journal"] = False

    def refs(box: Outbox) -> list[str]:
        return sorted(state.record_reference_id for state in box)

    expected = sorted(state.record_reference_id for state in (a, b, c, d))
    for _ in range(2):  # the merge, and the start after it
        box = await load(hass)
        assert refs(box) == expected
        assert box.rejected == 2
        assert not box.unreadable
        await box.async_close()
    names = await hass.async_add_executor_job(
        lambda: sorted(path.name for path in journal.parent.iterdir())
    )
    assert names == [journal.name]
