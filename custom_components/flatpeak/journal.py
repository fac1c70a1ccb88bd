"""The outbox's file: an append-only JSON-lines journal, compacted by a rewrite.

Every method here does blocking file I/O and runs in Home Assistant's executor
(``OutboxWriter`` calls it, one job at a time). Lines, each one JSON object:

- ``{"n": 7, "r": {...}}``: record number 7 was queued (``r`` is the API body);
- ``{"x": [3, 4, 7]}``: those records left the outbox (delivered, rejected,
  dropped);
- ``{"c": [dropped, rejected]}``: the outbox's counters (the last line wins).

A record costs one line when queued and a few bytes when it leaves, whatever
the outbox's size. A rewrite (compaction) replaces the file with its live
records through a temporary file and ``os.replace``, so a power cut leaves
either the old or the new file. A power cut during an append tears at most the
last line: loading skips it with a warning and the next write is a rewrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
import os
from pathlib import Path
import threading
import time
from typing import Any, BinaryIO

from homeassistant.helpers.json import json_bytes
from homeassistant.util.json import JSON_DECODE_EXCEPTIONS, json_loads

from .api import DeviceState
from .const import LOGGER

type Entry = tuple[int, DeviceState]
"""A queued record and its number in the journal."""

RECORD_ERRORS = (AttributeError, KeyError, TypeError, ValueError)
# Lines handled between two chances for the event loop to take the GIL.
CHUNK = 200


def parse_record(data: Any) -> DeviceState:
    """Build a record from its saved JSON; raise one of ``RECORD_ERRORS``."""
    if not isinstance(data, dict):
        raise TypeError(f"a record is an object, not {type(data).__name__}")
    return DeviceState.from_json(data)


def parse_records(data: Iterable[Any]) -> tuple[list[DeviceState], int]:
    """Parse saved records; return the readable ones and how many were not."""
    records: list[DeviceState] = []
    unreadable = 0
    for item in data:
        try:
            records.append(parse_record(item))
        except RECORD_ERRORS:
            unreadable += 1
    return records, unreadable


@dataclass(slots=True)
class JournalContents:
    """What ``Journal.load`` found."""

    entries: list[Entry] = field(default_factory=list)
    dropped: int = 0
    rejected: int = 0
    next_number: int = 0
    # Record lines in the file that no longer hold a queued record.
    dead: int = 0
    # False when the file needs a rewrite before the next append (a torn or
    # unreadable line, a missing final newline).
    clean: bool = True
    exists: bool = False


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("a counter is a non-negative integer")
    return int(value)


class _Parser:
    """Reads a journal's lines into records and counters (one load)."""

    def __init__(self) -> None:
        self.raw: dict[int, Any] = {}
        self.found = JournalContents(exists=True)
        self.record_lines = 0
        self.bad_lines = 0

    def line(self, line: bytes) -> None:
        try:
            obj: Any = json_loads(line)
            if not isinstance(obj, dict):
                raise TypeError("a line is an object")
            if "r" in obj:
                number = _count(obj["n"])
                self.raw[number] = obj["r"]
                self.record_lines += 1
                self.found.next_number = max(self.found.next_number, number + 1)
            elif "x" in obj:
                if not isinstance(obj["x"], list):
                    raise TypeError("removals are a list")
                for number in obj["x"]:
                    self.raw.pop(number, None)
            else:
                dropped, rejected = obj["c"]
                self.found.dropped = _count(dropped)
                self.found.rejected = _count(rejected)
        except (*JSON_DECODE_EXCEPTIONS, *RECORD_ERRORS):
            self.bad_lines += 1

    def contents(self) -> JournalContents:
        found = self.found
        unreadable = 0
        for count, (number, data) in enumerate(self.raw.items(), 1):
            try:
                found.entries.append((number, parse_record(data)))
            except RECORD_ERRORS:
                unreadable += 1
            if not count % CHUNK:
                _let_the_loop_run()
        if unreadable:
            LOGGER.warning("Skipped %s unreadable record(s) in the outbox", unreadable)
        found.dead = self.record_lines - len(found.entries)
        return found


class Journal:
    """The journal file of one config entry (blocking: run it in the executor)."""

    def __init__(self, path: Path) -> None:
        """Use the journal at ``path`` (created on the first write)."""
        self.path = path
        self.bytes_written = 0
        # Jobs are queued in order by OutboxWriter; the lock also keeps a job
        # that outlived a cancelled caller from overlapping the next one.
        self._lock = threading.Lock()

    def load(self) -> JournalContents:
        """Read and parse the journal; a missing file is an empty outbox."""
        parser = _Parser()
        torn = b""
        with self._lock:
            try:
                with self.path.open("rb") as file:
                    for count, line in enumerate(file, 1):
                        if not line.endswith(b"\n"):
                            torn = line  # only the last line can lack it
                        elif line != b"\n":
                            parser.line(line)
                        if not count % CHUNK:
                            _let_the_loop_run()
            except FileNotFoundError:
                return JournalContents()
            except OSError as err:
                # Keep the file as it is (no rewrite from an empty outbox).
                LOGGER.warning("Could not read the outbox journal: %s", err)
                return JournalContents(exists=True)
        if parser.bad_lines:
            LOGGER.warning(
                "Skipped %s unreadable line(s) in the outbox journal %s",
                parser.bad_lines,
                self.path,
            )
        if torn:
            before = parser.bad_lines
            parser.line(torn)  # complete but without its newline: still read
            if parser.bad_lines > before:
                LOGGER.warning(
                    "The last line of the outbox journal %s was cut off (a power "
                    "cut while writing?); it is skipped",
                    self.path,
                )
        contents = parser.contents()
        contents.clean = (
            not torn
            and not parser.bad_lines
            and len(contents.entries) == len(parser.raw)
        )
        return contents

    def append(
        self,
        entries: Iterable[Entry],
        removed: Sequence[int],
        counters: tuple[int, int] | None,
    ) -> None:
        """Append queued records, removals and the counters; sync to disk."""
        tail = b""
        if removed:
            tail += json_bytes({"x": removed}) + b"\n"
        if counters is not None:
            tail += json_bytes({"c": counters}) + b"\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as file:
                written = _write_records(file, entries) + file.write(tail)
                file.flush()
                os.fsync(file.fileno())
            self.bytes_written += written

    def rewrite(self, entries: Iterable[Entry], counters: tuple[int, int]) -> None:
        """Replace the journal by its live records (atomic, synced)."""
        temporary = self.path.with_name(f"{self.path.name}.tmp")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as file:
                written = file.write(json_bytes({"c": counters}) + b"\n")
                written += _write_records(file, entries)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(self.path)
            _sync_directory(self.path.parent)
            self.bytes_written += written

    def remove(self) -> None:
        """Delete the journal (and a temporary file a power cut left behind)."""
        with self._lock:
            for path in (self.path, self.path.with_name(f"{self.path.name}.tmp")):
                with suppress(FileNotFoundError):
                    path.unlink()


def _write_records(file: BinaryIO, entries: Iterable[Entry]) -> int:
    """Write record lines in chunks, letting the event loop run in between."""
    written = 0
    batch: list[bytes] = []
    for number, state in entries:
        batch.append(json_bytes({"n": number, "r": state.to_json()}))
        if len(batch) == CHUNK:
            written += file.write(b"\n".join(batch) + b"\n")
            batch.clear()
            _let_the_loop_run()
    if batch:
        written += file.write(b"\n".join(batch) + b"\n")
    return written


def _let_the_loop_run() -> None:
    """Release the GIL, so that a long job does not hold up the event loop."""
    time.sleep(0)


def _sync_directory(path: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
