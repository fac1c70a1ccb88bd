"""The outbox journal's lines: what each one means, read and written (no file I/O).

Each line is one JSON object:

- ``{"n": 7, "r": {...}, "q": 812.5}``: record number 7 was queued (``r`` is
  the API body) at 812.5 s of run time (``delivery/run_clock.py``);
- ``{"x": [3, 4, 7]}``: those records left the outbox (delivered, rejected,
  dropped);
- ``{"c": [dropped, rejected], "t": 815.0, "s": 6}``: the outbox's counters,
  the run time when they were written and the number of the newest record
  Flatpeak accepted (the last line wins). One is written with every batch of
  records, so the saved run time is never behind a record's.

A record without ``q`` (written by 0.2.0) counts from the run time at load.

Anything else this version does not understand is kept, so that a downgrade
and an upgrade lose nothing a newer version wrote: a line of another kind is
written back unchanged at every rewrite; other fields of a record line or of
the counters line, and fields of a record beyond the API's, are written back
with it. What is sent to Flatpeak is only the API's fields (``DeviceState``).
A number found in a line of another kind is never given to a new record.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field, fields
import math
import time
from typing import Any

from homeassistant.helpers.json import json_bytes
from homeassistant.util.json import JSON_DECODE_EXCEPTIONS, json_loads

from ..api import DeviceState
from ..const import LOGGER

type JsonObject = dict[str, Any]

RECORD_ERRORS = (AttributeError, KeyError, TypeError, ValueError)
# Lines handled between two chances for the event loop to take the GIL.
CHUNK = 200
# The fields of a record this version sends; others are kept, never sent.
API_FIELDS = frozenset(f.name for f in fields(DeviceState))
RECORD_LINE_FIELDS = frozenset(("n", "r", "q"))
COUNTERS_LINE_FIELDS = frozenset(("c", "t", "s"))


@dataclass(slots=True, eq=False)
class Entry:
    """A queued record, its number in the journal, and what a newer version added."""

    number: int
    state: DeviceState
    # Run time (seconds) when it was queued; None until a load sets it.
    queued_at: float | None = None
    # Fields of its line, and of its record, that this version does not know.
    extra: JsonObject | None = None
    extra_record: JsonObject | None = None

    def to_line(self) -> bytes:
        """Return the journal line of this record (without its newline)."""
        record = self.state.to_json()
        if self.extra_record:
            record.update(self.extra_record)  # never an API field
        line: JsonObject = {"n": self.number, "r": record}
        if self.queued_at is not None:
            line["q"] = round(self.queued_at, 3)
        if self.extra:
            line.update(self.extra)  # never "n" or "r"
        return json_bytes(line)


@dataclass(slots=True)
class Preserved:
    """What the journal holds that this version does not understand."""

    lines: list[bytes] = field(default_factory=list)
    counters: JsonObject = field(default_factory=dict)


def counters_line(
    counters: tuple[int, int], marks: tuple[float, int], preserved: Preserved
) -> bytes:
    """Return the counters line (without its newline); ``marks``: run time, newest sent."""
    run_time, newest_sent = marks
    line = {"c": list(counters), "t": round(run_time, 3), "s": newest_sent}
    return json_bytes({**preserved.counters, **line})


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
    preserved: Preserved = field(default_factory=Preserved)
    # The run time saved (at least every queued record's); records without
    # one of their own count from it.
    run_time: float = 0.0
    newest_sent: int = -1


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("a counter is a non-negative integer")
    return int(value)


class Parser:
    """Reads a journal's lines into records and counters (one load)."""

    def __init__(self) -> None:
        """Start with nothing read."""
        self.raw: dict[int, JsonObject] = {}
        self.found = JournalContents(exists=True)
        self.record_lines = 0
        self.bad_lines = 0

    def line(self, line: bytes) -> None:
        """Read one line (a torn or unreadable one is counted in ``bad_lines``)."""
        found = self.found
        try:
            obj: Any = json_loads(line)
            if not isinstance(obj, dict):
                raise TypeError("a line is an object")
            if "r" in obj:
                number = _count(obj["n"])
                self.raw[number] = obj
                self.record_lines += 1
                found.next_number = max(found.next_number, number + 1)
            elif "x" in obj:
                if not isinstance(obj["x"], list):
                    raise TypeError("removals are a list")
                for number in obj["x"]:
                    self.raw.pop(number, None)
            elif "c" in obj:
                dropped, rejected = obj["c"]
                found.dropped, found.rejected = _count(dropped), _count(rejected)
                found.run_time = max(found.run_time, _seconds(obj.get("t", 0.0)))
                sent = obj.get("s", -1)
                found.newest_sent = sent if type(sent) is int else -1
                found.preserved.counters = {
                    k: v for k, v in obj.items() if k not in COUNTERS_LINE_FIELDS
                }
            else:
                found.preserved.lines.append(line.rstrip(b"\r\n"))
                if isinstance(seen := obj.get("n"), int) and seen >= 0:
                    found.next_number = max(found.next_number, int(seen) + 1)
        except (*JSON_DECODE_EXCEPTIONS, *RECORD_ERRORS):
            self.bad_lines += 1

    def contents(self) -> JournalContents:
        """Return the records still queued, in the order they were queued."""
        found = self.found
        unreadable = 0
        for count, (number, obj) in enumerate(self.raw.items(), 1):
            try:
                found.entries.append(_entry(number, obj))
            except RECORD_ERRORS:
                unreadable += 1
            if not count % CHUNK:
                let_the_loop_run()
        # New numbers follow the newest record Flatpeak has.
        found.next_number = max(found.next_number, found.newest_sent + 1)
        # A torn counters line may be older than the records before it.
        stamps = (e.queued_at for e in found.entries if e.queued_at is not None)
        found.run_time = max(found.run_time, *stamps, 0.0)
        for entry in found.entries:
            if entry.queued_at is None:
                entry.queued_at = found.run_time
        if unreadable:
            LOGGER.warning("Skipped %s unreadable record(s) in the outbox", unreadable)
        found.dead = self.record_lines - len(found.entries)
        return found


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("a run time is a number")
    if not 0 <= value < math.inf:
        raise ValueError("a run time is a finite non-negative number")
    return float(value)


def _entry(number: int, obj: JsonObject) -> Entry:
    record = obj["r"]
    entry = Entry(number, parse_record(record))
    with suppress(*RECORD_ERRORS):  # else it counts from the load
        entry.queued_at = _seconds(obj["q"])
    if not obj.keys() <= RECORD_LINE_FIELDS:
        entry.extra = {k: v for k, v in obj.items() if k not in RECORD_LINE_FIELDS}
    if not record.keys() <= API_FIELDS:
        entry.extra_record = {k: v for k, v in record.items() if k not in API_FIELDS}
    return entry


def let_the_loop_run() -> None:
    """Release the GIL, so that a long job does not hold up the event loop."""
    time.sleep(0)
