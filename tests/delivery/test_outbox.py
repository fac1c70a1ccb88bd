"""The outbox: bounds, the record in flight, the journal on disk, the 0.1.0 file."""

from collections.abc import AsyncGenerator, Iterator
from datetime import UTC, datetime, timedelta
import errno
import logging
from pathlib import Path
from typing import Any, Self

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.json import json_bytes
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flatpeak.api import DeviceState
from custom_components.flatpeak.const import DOMAIN
from custom_components.flatpeak.delivery.outbox import Outbox, async_remove_outbox
from custom_components.flatpeak.delivery.outbox_writer import (
    COMPACT_MIN_DEAD,
    FLUSH_DELAY,
)
from flatpeak_sandbox import FlatpeakSandbox

from ..conftest import (
    SOC,
    SUBENTRY_ID,
    Clocks,
    advance,
    device_options,
    drain,
    set_device_options,
    settle,
    state_of,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def state(minutes_ago: float, soc: float = 50) -> DeviceState:
    return DeviceState(
        time=NOW - timedelta(minutes=minutes_ago),
        state_of_charge_percent=soc,
        target_state_of_charge_percent=80,
        record_reference_id=f"ref-{minutes_ago}-{soc}",
    )


def old_store(records: list[Any], dropped: int = 0, rejected: int = 0) -> Any:
    """Return the 0.1.0 outbox file as ``hass_storage`` holds it."""
    return {
        "version": 1,
        "minor_version": 1,
        "key": "flatpeak.entry.outbox",
        "data": {"records": records, "dropped": dropped, "rejected": rejected},
    }


@pytest.fixture(autouse=True)
def _now(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOW)


@pytest.fixture
def journal(hass: HomeAssistant) -> Path:
    """Return the path of the entry ``entry``'s journal."""
    return Path(hass.config.path(".storage", "flatpeak.entry.outbox.jsonl"))


@pytest.fixture
async def outbox(hass: HomeAssistant) -> AsyncGenerator[Outbox]:
    """Return a loaded outbox, closed after the test."""
    box = Outbox(hass, "entry", max_age=DAY, max_records=10_000)
    await box.async_load()
    yield box
    await box.async_close()


async def on_disk(hass: HomeAssistant, entry_id: str = "entry") -> Outbox:
    """Return what a restart would find: a fresh outbox loaded from disk."""
    fresh = Outbox(hass, entry_id, max_age=DAY, max_records=10_000)
    await fresh.async_load()
    await fresh.async_close()
    return fresh


async def read(hass: HomeAssistant, path: Path) -> bytes:
    return await hass.async_add_executor_job(path.read_bytes)


async def write(hass: HomeAssistant, path: Path, data: bytes) -> None:
    await hass.async_add_executor_job(path.write_bytes, data)


async def tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float
) -> None:
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


class FailingDisk:
    """The storage's read errors (EIO), for files whose name contains ``part``.

    While ``failing``, opening such a file to read fails; after ``fail_after``
    lines, a read in the middle of the file fails. Everything else is the real
    file system.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, part: str) -> None:
        self.part = part
        self.failing = False
        self.fail_after: int | None = None
        self.reads = 0
        real_open = Path.open

        def open_(path: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            file = real_open(path, mode, *args, **kwargs)
            if self.part not in path.name or "r" not in mode:
                return file
            self.reads += 1
            if self.failing:
                file.close()
                raise OSError(errno.EIO, "Input/output error", str(path))
            if self.fail_after is None:
                return file
            return _FailingReader(file, self.fail_after)

        monkeypatch.setattr(Path, "open", open_)


class _FailingReader:
    """A file whose read fails (EIO) after ``lines`` lines."""

    def __init__(self, file: Any, lines: int) -> None:
        self._file = file
        self._left = lines

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[bytes]:
        for line in self._file:
            if not self._left:
                raise OSError(errno.EIO, "Input/output error")
            self._left -= 1
            yield line


# --- bounds and the record in flight ------------------------------------------------


async def test_count_bound_drops_the_oldest_and_logs_once(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    outbox.max_records = 3
    for soc in range(6):
        outbox.append(state(10 - soc, soc))
    assert [s.state_of_charge_percent for s in outbox] == [3, 4, 5]
    assert outbox.dropped == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    # A delivery ends the episode: the next drop is logged again.
    first = outbox.peek()
    assert first is not None
    outbox.delivered(first)
    outbox.append(state(1, 6))
    outbox.append(state(0, 7))
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


async def test_age_bound(outbox: Outbox, freezer: FrozenDateTimeFactory) -> None:
    outbox.max_age = timedelta(hours=1)
    outbox.append(state(90))
    outbox.append(state(30))
    # Stamped 90 minutes ago, but queued just now: kept for an hour of run time.
    assert len(outbox) == 2
    freezer.tick(timedelta(minutes=31))
    assert outbox.prune() == 0
    freezer.tick(timedelta(minutes=30))
    assert outbox.prune() == 2
    assert len(outbox) == 0
    assert outbox.dropped == 2


async def test_reject_and_remove_out_of_order(outbox: Outbox) -> None:
    first, second = state(2), state(1)
    outbox.append(first)
    outbox.append(second)
    outbox.reject(second)
    assert list(outbox) == [first]
    assert outbox.rejected == 1
    outbox.reject(second)  # already gone: not counted twice
    assert outbox.rejected == 1
    outbox.delivered(second)
    assert list(outbox) == [first]


async def test_prune_never_drops_the_record_in_flight(
    outbox: Outbox, freezer: FrozenDateTimeFactory
) -> None:
    outbox.max_age = timedelta(hours=1)
    outbox.max_records = 3
    oldest, older, newer = state(50, 1), state(40, 2), state(30, 3)
    for record in (oldest, older, newer):
        outbox.append(record)
    # The current state is in flight, at the end of the queue.
    assert outbox.peek() is newer
    outbox.append(state(20, 4))
    assert [s.state_of_charge_percent for s in outbox] == [2, 3, 4]
    assert outbox.dropped == 1
    # The age bound neither drops nor counts the record in flight.
    freezer.tick(timedelta(minutes=61))
    assert outbox.prune() == 2
    assert list(outbox) == [newer]
    assert outbox.dropped == 3
    # Rejecting it ends the flight and counts it as rejected, not dropped.
    outbox.reject(newer)
    assert not outbox
    assert (outbox.dropped, outbox.rejected) == (3, 1)
    # A backlog record in flight, at the front of the queue.
    first, second, third = state(20, 5), state(10, 6), state(0, 7)
    for record in (first, second, third):
        outbox.append(record)
    assert outbox.peek() is third
    outbox.delivered(third)
    assert outbox.peek() is first
    freezer.tick(timedelta(minutes=61))
    assert outbox.prune() == 1
    assert list(outbox) == [first]


async def test_release_and_delivered_end_the_flight(
    outbox: Outbox, freezer: FrozenDateTimeFactory
) -> None:
    outbox.max_age = timedelta(hours=1)
    first, second = state(50, 1), state(40, 2)
    outbox.append(first)
    outbox.append(second)
    assert outbox.peek() is second  # the current state first
    outbox.delivered(second)
    assert outbox.peek() is first  # then the backlog
    freezer.tick(timedelta(minutes=61))
    assert outbox.prune() == 0
    outbox.release()  # the attempt failed: the bounds apply again
    assert outbox.prune() == 1
    assert outbox.peek() is None
    assert outbox.dropped == 1


async def test_the_age_bound_counts_run_time_kept_across_restarts(
    hass: HomeAssistant, clocks: Clocks
) -> None:
    """Fails on 0.2.0: the record was dropped by the wall clock alone at load."""
    outbox = Outbox(hass, "entry", max_age=DAY, max_records=10_000)
    await outbox.async_load()
    first = state(0, 1)
    outbox.append(first)
    await clocks.advance(23 * 3600)
    await outbox.async_close()
    # Home Assistant is off for a day: the wall clock moves, the run time not.
    await clocks.step(DAY)
    again = Outbox(hass, "entry", max_age=DAY, max_records=10_000)
    await again.async_load()
    assert list(again) == [first]  # 47 h old by the wall clock, 23 h of run
    await clocks.advance(3500)
    assert again.prune() == 0
    await clocks.advance(200)  # 24 h and 100 s of run time since it was queued
    assert again.prune() == 1
    await again.async_close()


async def test_records_of_an_older_journal_count_from_their_load(
    hass: HomeAssistant, journal: Path, clocks: Clocks
) -> None:
    """A journal of 0.2.0 has no run time: its records count from the start."""
    old = state(30 * 60, 1)  # 30 h old by the wall clock
    await hass.async_add_executor_job(journal.parent.mkdir)
    await write(hass, journal, b'{"n":0,"r":' + json_bytes(old.to_json()) + b"}\n")
    outbox = Outbox(hass, "entry", max_age=DAY, max_records=10_000)
    await outbox.async_load()
    assert list(outbox) == [old]
    await clocks.advance(23 * 3600)
    assert outbox.prune() == 0
    await clocks.advance(3601)
    assert outbox.prune() == 1
    await outbox.async_close()


async def test_the_current_state_first_then_the_backlog_oldest_first(
    hass: HomeAssistant, outbox: Outbox
) -> None:
    records = [state(10 - soc, soc) for soc in range(5)]
    for record in records:
        outbox.append(record)
    # Flatpeak answers again: the newest record first.
    assert outbox.peek(backlog=False) is records[4]
    outbox.delivered(records[4])
    assert outbox.peek(backlog=False) is None  # only a backlog is left
    assert outbox.peek() is records[0]
    outbox.delivered(records[0])
    # A snapshot taken during the drain goes ahead of the backlog.
    later = state(0, 9)
    outbox.append(later)
    assert outbox.peek() is later
    outbox.delivered(later)
    assert outbox.peek() is records[1]
    outbox.delivered(records[1])
    await outbox.async_close()
    # After a restart the backlog is still a backlog: oldest first.
    again = await on_disk(hass)
    assert again.peek(backlog=False) is None
    assert again.peek() == records[2]
    for record in records[2:4]:
        assert not again.drain_ended_stale
        again.delivered(record)
    # The backlog ended the drain: Flatpeak's last record is not the newest.
    assert again.drain_ended_stale
    fresh = state(0, 10)
    again.append(fresh)
    assert not again.drain_ended_stale
    assert again.peek() is fresh
    again.delivered(fresh)
    assert not again.drain_ended_stale


# --- on disk ------------------------------------------------------------------------------


async def test_records_on_disk_within_10_s_under_a_stream_of_appends(
    hass: HomeAssistant, outbox: Outbox, freezer: FrozenDateTimeFactory
) -> None:
    """Fails on 0.1.0: every append postponed the save, nothing reached the disk."""
    queued: list[DeviceState] = []
    for second in range(60):
        record = state(-second / 60, second % 100)
        outbox.append(record)
        queued.append(record)
        await tick(hass, freezer, 1)
        # Every record queued 10 s ago or earlier is on disk, whatever the rate.
        durable = queued[: max(0, len(queued) - 10)]
        assert list(await on_disk(hass))[: len(durable)] == durable, second
    await outbox.async_close()
    assert list(await on_disk(hass)) == queued


async def test_persisted_and_restored_with_counters(
    hass: HomeAssistant, outbox: Outbox, journal: Path
) -> None:
    outbox.max_records = 3
    for soc in range(5):
        outbox.append(state(10 - soc, soc))
    outbox.reject(state(6, 4))
    outbox.delivered(state(8, 2))
    await outbox.async_close()
    again = await on_disk(hass)
    assert list(again) == list(outbox) == [state(7, 3)]
    assert (again.dropped, again.rejected) == (2, 1)
    # Closed: a later change stays in memory until the next close.
    outbox.append(state(1, 9))
    assert len(await on_disk(hass)) == 1
    await outbox.async_close()
    assert list(await on_disk(hass)) == [state(7, 3), state(1, 9)]


async def test_delivered_within_the_flush_delay_never_touches_the_disk(
    hass: HomeAssistant,
    outbox: Outbox,
    journal: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    for soc in range(20):
        outbox.append(state(-soc, soc))
        record = outbox.peek()
        assert record is not None
        outbox.delivered(record)
        await tick(hass, freezer, 30)
    assert outbox.bytes_written == 0
    assert not journal.exists()


async def test_a_truncated_last_line_loses_only_that_record(
    hass: HomeAssistant,
    outbox: Outbox,
    journal: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = [state(10 - soc, soc) for soc in range(5)]
    for record in records:
        outbox.append(record)
    await outbox.async_flush()
    data = await read(hass, journal)
    # A power cut in the middle of a write: the last record line is torn (and
    # the counters line after it is lost).
    await write(hass, journal, data[: data.rindex(b'\n{"c"') - 20])
    again = Outbox(hass, "entry", max_age=DAY, max_records=10_000)
    await again.async_load()
    assert list(again) == records[:-1]
    assert "was cut off" in caplog.text
    # The next write repairs the file: a record queued now follows a clean line.
    again.append(records[-1])
    await again.async_close()
    assert (await read(hass, journal)).endswith(b"\n")
    assert list(await on_disk(hass)) == records
    caplog.clear()
    await on_disk(hass)
    assert "cut off" not in caplog.text


async def test_a_last_line_without_its_newline_is_kept_and_repaired(
    hass: HomeAssistant, outbox: Outbox, journal: Path
) -> None:
    outbox.append(state(2, 1))
    outbox.append(state(1, 2))
    await outbox.async_flush()
    await write(hass, journal, (await read(hass, journal)).rstrip(b"\n"))
    again = await on_disk(hass)
    assert list(again) == [state(2, 1), state(1, 2)]
    assert (await read(hass, journal)).endswith(b"\n")


async def test_garbage_lines_are_skipped(
    hass: HomeAssistant,
    outbox: Outbox,
    journal: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = state(2, 1), state(1, 2)
    outbox.append(first)
    await outbox.async_flush()
    outbox.append(second)
    outbox.dropped = 4
    await outbox.async_flush()
    lines = (await read(hass, journal)).splitlines(keepends=True)
    garbage = [
        b"null\n",
        b"[1, 2]\n",
        b'"text"\n',
        b"not json at all\n",
        b"\xff\xfe\n",
        b'{"n": 50}\n',
        b'{"r": {}}\n',
        b'{"n": -1, "r": {}}\n',
        b'{"x": "abc"}\n',
        b'{"c": [-1, 2]}\n',
        b'{"c": {"dropped": 1}}\n',
        b'{"other": 1}\n',
        b'{"n": 51, "r": null}\n',
        b'{"n": 52, "r": [1]}\n',
        b'{"n": 53, "r": {"time": "2026-11-28T11:00:00Z"}}\n',
        b'{"n": 54, "r": {"time": "yesterday", "state_of_charge_percent": 5,'
        b' "target_state_of_charge_percent": 5}}\n',
    ]
    await write(hass, journal, b"".join([lines[0], *garbage, *lines[1:]]))
    again = await on_disk(hass)
    assert list(again) == [first, second]
    assert again.dropped == 4
    # Objects of another kind are a newer version's lines: kept, not skipped.
    assert "Skipped 10 unreadable line(s)" in caplog.text
    assert "Skipped 4 unreadable record(s) in the outbox" in caplog.text
    # The file was rewritten clean, with the lines it did not understand.
    caplog.clear()
    assert list(await on_disk(hass)) == [first, second]
    assert "unreadable" not in caplog.text
    data = await read(hass, journal)
    assert b'{"n": 50}\n{"other": 1}\n' in data  # unchanged
    # A number such a line holds is never given to a new record.
    again.append(state(0, 3))
    await again.async_close()
    assert b'{"n":55,"r":' in await read(hass, journal)  # past 50 and 51-54


async def test_compaction_bounds_the_file_and_keeps_order_and_counters(
    hass: HomeAssistant,
    outbox: Outbox,
    journal: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    total = 3 * COMPACT_MIN_DEAD
    records = [state(-i / 1000, i % 100) for i in range(total)]
    for record in records:
        outbox.append(record)
    await tick(hass, freezer, FLUSH_DELAY)
    full = (await read(hass, journal)).count(b"\n")
    assert full == total + 1  # and the counters line
    # The current state first, then two thirds of the backlog (one
    # rejected): the file is compacted on the way.
    newest = outbox.peek()
    assert newest is records[-1]
    outbox.delivered(newest)
    for index in range(2 * COMPACT_MIN_DEAD):
        head = outbox.peek()
        assert head is records[index]
        if index == 7:
            outbox.reject(head)
        else:
            outbox.delivered(head)
        if index % 100 == 99:
            await tick(hass, freezer, FLUSH_DELAY)
    await outbox.async_flush()
    lines = (await read(hass, journal)).count(b"\n")
    # Never more dead lines than live ones beyond the minimum.
    assert lines <= len(outbox) + COMPACT_MIN_DEAD + 30
    assert lines < full
    again = await on_disk(hass)
    assert list(again) == records[2 * COMPACT_MIN_DEAD : -1]
    assert (again.dropped, again.rejected) == (0, 1)
    assert again.peek() is not None
    assert again.peek() == records[2 * COMPACT_MIN_DEAD]  # still a backlog
    # Delivering the rest empties the file down to its counters.
    while (head := outbox.peek()) is not None:
        outbox.delivered(head)
    await outbox.async_flush()
    assert (await read(hass, journal)).startswith(b'{"c":[0,1],"t":')
    assert (await read(hass, journal)).count(b"\n") == 1
    # Bytes written per queued record, compaction included.
    assert outbox.bytes_written / total < 2048


async def test_a_failed_write_is_retried_from_memory(
    hass: HomeAssistant,
    outbox: Outbox,
    journal: Path,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await hass.async_add_executor_job(journal.mkdir, 0o755, True)  # not a file
    outbox.append(state(2, 1))
    await tick(hass, freezer, FLUSH_DELAY)
    assert "Could not write the outbox to disk" in caplog.text
    outbox.append(state(1, 2))
    await tick(hass, freezer, FLUSH_DELAY)
    assert caplog.text.count("Could not write the outbox") == 1
    await hass.async_add_executor_job(journal.rmdir)
    await tick(hass, freezer, FLUSH_DELAY)
    assert "written to disk again" in caplog.text
    assert list(await on_disk(hass)) == [state(2, 1), state(1, 2)]


# --- read errors -----------------------------------------------------------------------


async def test_a_journal_unreadable_once_loses_nothing(
    hass: HomeAssistant,
    outbox: Outbox,
    journal: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fails on 0.2.0: the next start loaded only B (A was lost, C's number reused)."""
    a, b, c = state(3, 1), state(2, 2), state(1, 3)
    outbox.append(a)
    outbox.append(b)
    await outbox.async_close()
    disk = FailingDisk(monkeypatch, journal.name)
    disk.failing = True  # one start meets read errors (EIO)
    second = Outbox(hass, "entry", max_age=DAY, max_records=10_000)
    await second.async_load()
    assert not second
    assert "Could not read the outbox journal" in caplog.text
    second.append(c)
    await second.async_flush()
    head = second.peek()
    assert head is c
    second.delivered(head)
    await second.async_close()
    disk.failing = False
    # The next start reads the file again: A and B come back, once each, and
    # C (delivered) does not.
    third = await on_disk(hass)
    assert list(third) == [a, b]
    assert list(await on_disk(hass)) == [a, b]


async def test_a_read_error_gone_a_moment_later_loses_nothing_now(
    hass: HomeAssistant, outbox: Outbox, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [state(2, 1), state(1, 2)]
    for record in records:
        outbox.append(record)
    await outbox.async_close()
    disk = FailingDisk(monkeypatch, journal.name)
    disk.failing = True
    real_rename = Path.rename

    def rename(path: Path, target: Path) -> Path:
        disk.failing = False  # the error is gone by the time it is read again
        return real_rename(path, target)

    monkeypatch.setattr(Path, "rename", rename)
    again = await on_disk(hass)
    assert list(again) == records
    assert not again.unreadable
    names = await hass.async_add_executor_job(
        lambda: sorted(p.name for p in journal.parent.iterdir())
    )
    assert names == [journal.name]


async def test_a_read_error_midway_keeps_the_whole_file(
    hass: HomeAssistant, outbox: Outbox, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [state(10 - soc, soc) for soc in range(6)]
    for record in records[:3]:
        outbox.append(record)
    await outbox.async_flush()
    outbox.delivered(records[1])  # its removal is further down the file
    for record in records[3:]:
        outbox.append(record)
    await outbox.async_close()
    disk = FailingDisk(monkeypatch, journal.name)
    disk.fail_after = 2  # the first two lines read, then EIO
    second = Outbox(hass, "entry", max_age=DAY, max_records=10_000)
    await second.async_load()
    # Nothing half-read is used: the second record was delivered already.
    assert not second
    later = state(0, 9)
    second.append(later)
    await second.async_close()
    disk.fail_after = None
    expected = [records[0], *records[2:], later]
    assert list(await on_disk(hass)) == expected


async def test_a_journal_that_stays_unreadable_is_kept_and_never_written(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    battery: None,
    monkeypatch: pytest.MonkeyPatch,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Fails on 0.2.0: new records were appended to the unreadable file."""
    storage_id = SUBENTRY_ID  # the device's files
    path = Path(hass.config.path(".storage", f"flatpeak.{storage_id}.outbox.jsonl"))
    a, b = state(3, 1), state(2, 2)
    saved = Outbox(hass, storage_id, max_age=DAY, max_records=10_000)
    await saved.async_load()
    saved.append(a)
    saved.append(b)
    await saved.async_close()
    original = await read(hass, path)
    disk = FailingDisk(monkeypatch, path.name)
    disk.failing = True  # a failing SD card: every read fails

    def kept() -> dict[str, bytes]:
        found = {}
        for kept_path in path.parent.glob(f"{path.name}.*"):
            with open(kept_path, "rb") as file:  # noqa: PTH123 - not the failing disk
                found[kept_path.name] = file.read()
        return found

    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert config_entry.state is ConfigEntryState.LOADED
    issue = issue_registry.async_get_issue(DOMAIN, f"outbox_unreadable_{storage_id}")
    assert issue is not None
    assert issue.translation_key == "outbox_unreadable"
    [(name, data)] = (await hass.async_add_executor_job(kept)).items()
    assert data == original
    assert issue.translation_placeholders["path"].endswith(name)
    # New records are delivered and saved meanwhile, in a new file.
    assert len(sandbox.states()) == 1
    await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await hass.async_add_executor_job(kept) == {name: original}
    assert issue_registry.async_get_issue(DOMAIN, issue.issue_id) is not None
    # The storage is fixed: the kept records are delivered, once.
    disk.failing = False
    await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await drain(hass, freezer, config_entry)
    bodies = sandbox.states()
    assert a.to_json() in bodies
    assert b.to_json() in bodies
    assert len({body["record_reference_id"] for body in bodies}) == len(bodies)
    assert await hass.async_add_executor_job(kept) == {}
    assert issue_registry.async_get_issue(DOMAIN, issue.issue_id) is None


async def test_what_a_newer_version_wrote_survives_compaction(
    hass: HomeAssistant,
    outbox: Outbox,
    journal: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Fails on 0.2.0: unknown lines and fields were dropped by the rewrite."""
    a, b = state(3, 1), state(2, 2)
    lines = [
        b'{"c":[1,2],"future_counter":7}',
        b'{"n":0,"r":' + json_bytes(a.to_json()) + b"}",
        b'{"future":[1,2,3]}',
        b'{"n":1,"r":'
        + json_bytes({**b.to_json(), "grid_power_kw": 1.5})
        + b',"future_field":{"kept":true}}',
    ]
    await hass.async_add_executor_job(journal.parent.mkdir)
    await write(hass, journal, b"\n".join(lines) + b"\n")
    loaded = Outbox(hass, "entry", max_age=DAY, max_records=10_000)
    await loaded.async_load()
    assert list(loaded) == [a, b]
    assert (loaded.dropped, loaded.rejected) == (1, 2)
    # What is sent is exactly the API's fields.
    assert [s.to_json() for s in loaded] == [a.to_json(), b.to_json()]
    loaded.delivered(a)
    # Delivering a thousand more records compacts the file.
    more = [state(-index / 1000, index % 100) for index in range(COMPACT_MIN_DEAD)]
    for record in more:
        loaded.append(record)
    await loaded.async_flush()
    for record in more:
        loaded.delivered(record)
    await loaded.async_close()
    data = await read(hass, journal)
    assert data.count(b"\n") < 10  # compacted
    assert b'{"future":[1,2,3]}\n' in data
    assert b'"future_counter":7' in data
    assert b'"grid_power_kw":1.5' in data
    assert b'"future_field":{"kept":true}' in data
    again = await on_disk(hass)
    assert [s.to_json() for s in again] == [b.to_json()]


# --- the 0.1.0 file, removal ------------------------------------------------------------


async def test_the_0_1_0_outbox_is_carried_over(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    journal: Path,
) -> None:
    records = [state(3, 1), state(2, 2), state(1, 3)]
    hass_storage["flatpeak.entry.outbox"] = old_store(
        [r.to_json() for r in records], dropped=5, rejected=2
    )
    outbox = Outbox(hass, "entry", max_age=DAY, max_records=10_000)
    await outbox.async_load()
    assert list(outbox) == records
    assert "flatpeak.entry.outbox" not in hass_storage
    again = await on_disk(hass)
    assert list(again) == records
    assert (again.dropped, again.rejected) == (5, 2)
    # Crash between writing the journal and removing the old file: the old
    # file is read again, and nothing is duplicated or counted twice.
    outbox.append(state(0, 4))
    await outbox.async_close()
    hass_storage["flatpeak.entry.outbox"] = old_store(
        [r.to_json() for r in records], dropped=5, rejected=2
    )
    again = await on_disk(hass)
    assert list(again) == [*records, state(0, 4)]
    assert (again.dropped, again.rejected) == (5, 2)
    assert "flatpeak.entry.outbox" not in hass_storage


async def test_the_0_1_0_file_stays_until_the_journal_is_written(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    journal: Path,
) -> None:
    hass_storage["flatpeak.entry.outbox"] = old_store([state(1).to_json()])
    # The rewrite cannot create its temporary file.
    await hass.async_add_executor_job(Path(f"{journal}.tmp").mkdir, 0o755, True)
    outbox = Outbox(hass, "entry", max_age=DAY, max_records=10_000)
    await outbox.async_load()
    await outbox.async_close()
    assert list(outbox) == [state(1)]
    assert "flatpeak.entry.outbox" in hass_storage


@pytest.mark.parametrize(
    "data", [None, [1, 2], "text", {"records": "none"}, {"records": [None]}]
)
async def test_an_unreadable_0_1_0_file_is_an_empty_outbox(
    hass: HomeAssistant, hass_storage: dict[str, Any], data: Any
) -> None:
    hass_storage["flatpeak.entry.outbox"] = {**old_store([]), "data": data}
    outbox = await on_disk(hass)
    assert not outbox
    assert (outbox.dropped, outbox.rejected) == (0, 0)


@pytest.mark.parametrize(
    "saved",
    [{"no": "version"}, {**old_store([state(1).to_json()]), "version": 9}],
    ids=["not a store file", "unknown version"],
)
async def test_a_0_1_0_file_that_cannot_be_read_is_left_alone(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    saved: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass_storage["flatpeak.entry.outbox"] = saved
    outbox = await on_disk(hass)
    assert not outbox
    assert "Could not read the saved outbox of version 0.1.0" in caplog.text
    assert hass_storage["flatpeak.entry.outbox"] == saved


async def test_unreadable_saved_records_never_fail_setup(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    battery: None,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Fails on 0.1.0: a ``null`` record ended the setup in SETUP_ERROR."""
    good = state(1, 42).to_json()
    key = f"flatpeak.{SUBENTRY_ID}.outbox"
    hass_storage[key] = {
        **old_store(
            [
                None,
                [1, 2],
                "text",
                {"time": good["time"]},
                {**good, "state_of_charge_percent": 150},
                {**good, "time": "yesterday"},
                good,
            ],
            dropped=2,
            rejected=1,
        ),
        "key": key,
    }
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert config_entry.state is ConfigEntryState.LOADED
    assert "Skipped 6 unreadable record(s)" in caplog.text
    await drain(hass, freezer, config_entry)  # after the start snapshot
    assert good in sandbox.states()
    assert state_of(hass, "dropped_records") == "2"
    assert state_of(hass, "rejected_records") == "1"
    assert key not in hass_storage


async def test_remove_deletes_every_file(
    hass: HomeAssistant, hass_storage: dict[str, Any], outbox: Outbox, journal: Path
) -> None:
    outbox.append(state(1))
    await outbox.async_flush()
    await write(hass, Path(f"{journal}.tmp"), b"left by a power cut")
    hass_storage["flatpeak.entry.outbox"] = old_store([])
    await async_remove_outbox(hass, "entry")
    assert not journal.exists()
    assert not Path(f"{journal}.tmp").exists()
    assert "flatpeak.entry.outbox" not in hass_storage
    await async_remove_outbox(hass, "entry")  # nothing left: no error


# --- through the integration ------------------------------------------------------------


async def test_bounds_are_options(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    battery: None,
    freezer: FrozenDateTimeFactory,
) -> None:
    config_entry.add_to_hass(hass)
    set_device_options(
        hass,
        config_entry,
        {**device_options(config_entry), "outbox_max_records": 100},
    )
    await hass.config_entries.async_setup(config_entry.entry_id)
    await settle(hass)  # the first reads, in the background, are answered
    await sandbox.stop()
    for value in range(110):
        hass.states.async_set(SOC, str(value % 100), {"unit_of_measurement": "%"})
        await advance(hass, freezer, 31)
    assert state_of(hass, "queued_records") == "100"
    assert int(state_of(hass, "dropped_records")) > 0
    await sandbox.start()
    await advance(hass, freezer, 600)
    dropped = int(state_of(hass, "dropped_records"))
    await drain(hass, freezer, config_entry)
    assert state_of(hass, "dropped_records") == str(dropped)
    assert len(sandbox.states()) >= 100


async def test_oldest_does_not_put_the_record_in_flight(
    outbox: Outbox, freezer: FrozenDateTimeFactory
) -> None:
    outbox.max_age = timedelta(hours=1)
    first = state(50, 1)
    outbox.append(first)
    assert outbox.oldest is first
    freezer.tick(timedelta(hours=2))
    # Not in flight: the age bound drops it (diagnostics must not pin it).
    assert outbox.prune() == 1
    assert outbox.oldest is None
