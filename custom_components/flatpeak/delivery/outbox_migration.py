"""Carry the 0.1.0 outbox (a ``Store`` file) over into the journal."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store

from ..const import DOMAIN, LOGGER
from .journal_lines import Entry, JournalContents, parse_records


def store_0_1_0(hass: HomeAssistant, entry_id: str) -> Store[Any]:
    """Return the ``Store`` the 0.1.0 outbox used.

    Its data: ``{"records": [<API body>, ...], "dropped": int, "rejected": int}``.
    """
    return Store(hass, 1, f"{DOMAIN}.{entry_id}.outbox")


async def async_read_0_1_0(store: Store[Any]) -> dict[str, Any] | None:
    """Return the 0.1.0 outbox's data (``{}`` if not an object), None if absent.

    A file that cannot be read is left alone (None), to be tried at next start.
    """
    try:
        data = await store.async_load()
    except (HomeAssistantError, NotImplementedError, ValueError) as err:
        LOGGER.warning("Could not read the saved outbox of version 0.1.0: %s", err)
        return None
    if data is None:
        return None
    return data if isinstance(data, dict) else {}


def _counter(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    return value if isinstance(value, int) and value > 0 else 0


def carry_over(contents: JournalContents, data: dict[str, Any]) -> None:
    """Put the 0.1.0 records first into ``contents`` and renumber them all.

    Records the journal holds already (a crash after the journal was written,
    before the old file was removed) are not repeated: a record is known by its
    ``record_reference_id``, derived from its content. Runs in the executor.
    """
    raw = data.get("records")
    records, unreadable = parse_records(raw if isinstance(raw, list) else [])
    if unreadable:
        LOGGER.warning(
            "Skipped %s unreadable record(s) in the saved outbox", unreadable
        )
    known = {
        entry.state.record_reference_id or entry.state for entry in contents.entries
    }
    merged = [
        Entry(0, s, contents.run_time)
        for s in records
        if (s.record_reference_id or s) not in known
    ]
    merged.extend(contents.entries)
    for number, entry in enumerate(merged, contents.next_number):
        entry.number = number  # past every number the journal may hold
    contents.entries = merged
    contents.next_number += len(merged)
    dropped, rejected = _counter(data, "dropped"), _counter(data, "rejected")
    if contents.exists:  # then the counters were carried over already
        dropped = max(dropped, contents.dropped)
        rejected = max(rejected, contents.rejected)
    contents.dropped, contents.rejected = dropped, rejected
