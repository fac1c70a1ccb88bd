"""The outbox's file: an append-only JSON-lines journal, compacted by a rewrite.

Every method here does blocking file I/O and runs in Home Assistant's executor
(``OutboxWriter`` calls it, one job at a time). The lines are described in
``delivery/journal_lines.py``.

A record costs one line when queued and a few bytes when it leaves, whatever
the outbox's size. A rewrite (compaction) replaces the file with its live
records through a temporary file and ``os.replace``, so a power cut leaves
either the old or the new file. A power cut during an append tears at most the
last line: loading skips it with a warning and the next write is a rewrite.

A journal that cannot be read (a read error such as EIO, at any line) is never
written again and never half used: it is renamed to ``<name>.unreadable-<k>``
before anything is written, and new records go to a new journal. Every start
reads the files kept this way again; a readable one is merged into the journal
(``delivery/outbox_restore.py``) and removed once the journal holding its records is on
disk. Until the rename succeeds nothing is written (the writer retries).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
import os
from pathlib import Path
import threading
from typing import BinaryIO

from homeassistant.helpers.json import json_bytes

from ..const import LOGGER
from .journal_lines import (
    CHUNK,
    Entry,
    JournalContents,
    Parser,
    Preserved,
    let_the_loop_run,
)

KEPT_SUFFIX = ".unreadable-"


@dataclass(slots=True)
class KeptFiles:
    """The files kept after a read error, as a start found them."""

    readable: list[tuple[Path, JournalContents]] = field(default_factory=list)
    unreadable: dict[Path, OSError] = field(default_factory=dict)


class Journal:
    """The journal file of one config entry (blocking: run it in the executor)."""

    def __init__(self, path: Path) -> None:
        """Use the journal at ``path`` (created on the first write)."""
        self.path = path
        self.bytes_written = 0
        # Jobs are queued in order by OutboxWriter; the lock also keeps a job
        # that outlived a cancelled caller from overlapping the next one.
        self._lock = threading.Lock()
        # The file at ``path`` could not be read: move it aside before writing.
        self._unreadable = False

    def load(self) -> JournalContents:
        """Read and parse the journal; a missing file is an empty outbox.

        A file that cannot be read is kept aside (see the module's docstring)
        and the outbox starts empty.
        """
        with self._lock:
            try:
                return _read(self.path)
            except FileNotFoundError:
                return JournalContents()
            except OSError as err:
                LOGGER.warning(
                    "Could not read the outbox journal %s (%s); it is kept as it "
                    "is and read again at the next start, new records go to a "
                    "new journal",
                    self.path,
                    err.strerror or err,
                )
                self._unreadable = True
                with suppress(OSError):  # else before the first write
                    self._set_aside()
                return JournalContents()

    def load_kept(self) -> KeptFiles:
        """Read the files kept after a read error, oldest first."""
        kept = KeptFiles()
        for path in self._kept_paths():
            try:
                kept.readable.append((path, _read(path)))
            except OSError as err:
                LOGGER.warning(
                    "The outbox file %s, kept after a read error, still cannot "
                    "be read (%s); its records are sent once it can be",
                    path,
                    err.strerror or err,
                )
                kept.unreadable[path] = err
        return kept

    def remove_kept(self, paths: Iterable[Path]) -> None:
        """Delete kept files whose records the journal now holds.

        One that cannot be deleted (a failing storage) is left with a warning:
        its records are in the journal, and the next start merges it again
        (a record the journal holds is not repeated).
        """
        with self._lock:
            for path in paths:
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as err:
                    LOGGER.warning(
                        "Could not remove the outbox file %s (%s); its records "
                        "are in the outbox journal",
                        path,
                        err.strerror or err,
                    )
            _sync_directory(self.path.parent)

    def append(
        self,
        entries: Iterable[Entry],
        removed: Sequence[int],
        counters: bytes | None,
    ) -> None:
        """Append queued records, removals and the counters line; sync to disk."""
        tail = b""
        if removed:
            tail += json_bytes({"x": removed}) + b"\n"
        if counters is not None:
            tail += counters + b"\n"
        with self._lock:
            self._set_aside()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as file:
                written = _write_records(file, entries) + file.write(tail)
                file.flush()
                os.fsync(file.fileno())
            self.bytes_written += written

    def rewrite(
        self, entries: Iterable[Entry], counters: bytes, preserved: Preserved
    ) -> None:
        """Replace the journal by its live records (atomic, synced).

        The counters line comes first, then the lines this version does not
        understand, in their order, then the records.
        """
        temporary = self.path.with_name(f"{self.path.name}.tmp")
        head = counters + b"\n"
        head += b"".join(line + b"\n" for line in preserved.lines)
        with self._lock:
            self._set_aside()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as file:
                written = file.write(head)
                written += _write_records(file, entries)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(self.path)
            _sync_directory(self.path.parent)
            self.bytes_written += written

    def remove(self) -> None:
        """Delete the journal, a temporary file a power cut left, and kept files."""
        with self._lock:
            for path in (
                self.path,
                self.path.with_name(f"{self.path.name}.tmp"),
                *self._kept_paths(),
            ):
                with suppress(FileNotFoundError):
                    path.unlink()

    def _kept_paths(self) -> list[Path]:
        """Return the kept files, oldest first (by their number)."""
        prefix = f"{self.path.name}{KEPT_SUFFIX}"
        found = [
            (int(path.name.removeprefix(prefix)), path)
            for path in self.path.parent.glob(f"{prefix}*")
            if path.name.removeprefix(prefix).isdigit()
        ]
        return [path for _, path in sorted(found)]

    def _set_aside(self) -> None:
        """Rename the unreadable journal (raise OSError if that fails)."""
        if not self._unreadable:
            return
        kept = self._kept_paths()
        prefix = f"{self.path.name}{KEPT_SUFFIX}"
        number = int(kept[-1].name.removeprefix(prefix)) + 1 if kept else 1
        target = self.path.with_name(f"{prefix}{number}")
        with suppress(FileNotFoundError):  # gone already: nothing to keep
            self.path.rename(target)
            _sync_directory(self.path.parent)
            LOGGER.warning("The unreadable outbox journal is kept as %s", target)
        self._unreadable = False


def _read(path: Path) -> JournalContents:
    """Read and parse a journal file; raise OSError if it cannot be read."""
    parser = Parser()
    torn = b""
    with path.open("rb") as file:
        for count, line in enumerate(file, 1):
            if not line.endswith(b"\n"):
                torn = line  # only the last line can lack it
            elif line != b"\n":
                parser.line(line)
            if not count % CHUNK:
                let_the_loop_run()
    if parser.bad_lines:
        LOGGER.warning(
            "Skipped %s unreadable line(s) in the outbox journal %s",
            parser.bad_lines,
            path,
        )
    if torn:
        before = parser.bad_lines
        parser.line(torn)  # complete but without its newline: still read
        if parser.bad_lines > before:
            LOGGER.warning(
                "The last line of the outbox journal %s was cut off (a power "
                "cut while writing?); it is skipped",
                path,
            )
    contents = parser.contents()
    contents.clean = (
        not torn and not parser.bad_lines and len(contents.entries) == len(parser.raw)
    )
    return contents


def _write_records(file: BinaryIO, entries: Iterable[Entry]) -> int:
    """Write record lines in chunks, letting the event loop run in between."""
    written = 0
    batch: list[bytes] = []
    for entry in entries:
        batch.append(entry.to_line())
        if len(batch) == CHUNK:
            written += file.write(b"\n".join(batch) + b"\n")
            batch.clear()
            let_the_loop_run()
    if batch:
        written += file.write(b"\n".join(batch) + b"\n")
    return written


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
