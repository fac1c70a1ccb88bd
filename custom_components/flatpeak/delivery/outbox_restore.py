"""What a start restores into the outbox: the journal, kept files, the 0.1.0 outbox.

- The journal (``delivery/journal.py``).
- Files kept after a read error (``<journal>.unreadable-<k>``): one that can
  be read now has its records put first (they are older), with new numbers
  past every number of the journal; a record the journal holds already (known
  by its ``record_reference_id``) is not repeated, and its counters are added.
  One that still cannot be read stays as it is, and the entry raises a repair
  issue about it (``account/issues.py``).
- The 0.1.0 ``Store`` outbox (``delivery/outbox_migration.py``).

What was merged is removed only once the journal holding it is on disk
(``Restored.async_clean_up``, called by the outbox after its flush).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from ..const import LOGGER
from .journal import Journal, KeptFiles
from .journal_lines import JournalContents
from .outbox_migration import async_read_0_1_0, carry_over, store_0_1_0


@dataclass(slots=True)
class Restored:
    """The outbox a start found, and the files to remove once it is on disk."""

    hass: HomeAssistant
    journal: Journal
    contents: JournalContents
    store: Store[Any] | None = None  # the 0.1.0 file, carried over
    merged: list[Path] = field(default_factory=list)  # kept files, merged
    unreadable: dict[str, str] = field(default_factory=dict)  # path: error

    @property
    def rewrite(self) -> bool:
        """Return whether the journal must be rewritten (something was merged)."""
        return self.store is not None or bool(self.merged)

    async def async_clean_up(self) -> None:
        """Remove what was merged (call once the journal is on disk)."""
        if self.store is not None:
            await self.store.async_remove()
            LOGGER.info("Moved the outbox to %s", self.journal.path)
        if self.merged:
            await self.hass.async_add_executor_job(
                self.journal.remove_kept, self.merged
            )
            LOGGER.warning(
                "Recovered the outbox records kept after a read error (%s)",
                ", ".join(map(str, self.merged)),
            )


async def async_restore(
    hass: HomeAssistant, journal: Journal, entry_id: str
) -> Restored:
    """Load the journal and merge what else a start finds (file I/O in the executor)."""
    contents = await hass.async_add_executor_job(journal.load)
    restored = Restored(hass, journal, contents)
    store = store_0_1_0(hass, entry_id)
    if (old := await async_read_0_1_0(store)) is not None:
        await hass.async_add_executor_job(carry_over, contents, old)
        restored.store = store
    kept = await hass.async_add_executor_job(journal.load_kept)
    merge_kept(contents, kept)
    restored.merged = [path for path, _ in kept.readable]
    restored.unreadable = {
        str(path): str(err.strerror or err) for path, err in kept.unreadable.items()
    }
    return restored


def merge_kept(contents: JournalContents, kept: KeptFiles) -> None:
    """Put the readable kept files' records first, numbered past the journal's."""
    if not kept.readable:
        return
    known = {
        entry.state.record_reference_id or entry.state for entry in contents.entries
    }
    merged = []
    number = contents.next_number
    for _, found in kept.readable:
        for entry in found.entries:
            key = entry.state.record_reference_id or entry.state
            if key in known:
                continue
            known.add(key)
            entry.number, number = number, number + 1
            entry.queued_at = contents.run_time  # its file's run time is not ours
            merged.append(entry)
        contents.dropped += found.dropped
        contents.rejected += found.rejected
        contents.preserved.lines.extend(found.preserved.lines)
    contents.entries[:0] = merged
    contents.next_number = number
