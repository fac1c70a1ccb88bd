"""What the outbox's journal was chosen over: the 0.1.0 outbox and stdlib ``sqlite3``.

Printed by tests/bench_outbox.py when it runs alone; not part of ``scripts/bench``.
"""

import json
from pathlib import Path
import sqlite3
import time

from homeassistant.helpers.json import prepare_save_json

from .bench_outbox import BIG, OUTAGE, proc_io, record


def measure_old_outbox() -> dict[str, float]:
    """Return the 0.1.0 outbox's figures, for comparison (no Home Assistant).

    0.1.0 saved the whole outbox through ``Store.async_delay_save(5 s)``: with
    one record a second (any minimum gap under 5 s, or a backlog drain) every
    change postponed the save, so nothing reached the disk (``durable``: never;
    see test_records_on_disk_within_10_s_under_a_stream_of_appends). With the
    default 30 s gap, each record caused one save of the whole outbox, its data
    built and serialised on the event loop (``Store``'s default). Measured here:
    that on-loop work for 100 000 records, with Home Assistant's own
    ``prepare_save_json``; and the bytes of one save per record over a
    10 000-record outage (the size of a save is linear in its records).
    """

    def saved(count: int) -> bytes:
        records = [record(index).to_json() for index in range(count)]
        data = {"records": records, "dropped": 0, "rejected": 0}
        document = {"version": 1, "minor_version": 1, "key": "k", "data": data}
        _, json_data = prepare_save_json(document)
        return json_data if isinstance(json_data, bytes) else json_data.encode()

    states = [record(index) for index in range(BIG)]
    start = time.perf_counter()
    records = [state.to_json() for state in states]  # the old data_func
    data = {"records": records, "dropped": 0, "rejected": 0}
    prepare_save_json({"version": 1, "minor_version": 1, "key": "k", "data": data})
    stall = (time.perf_counter() - start) * 1000
    empty, thousand = len(saved(0)), len(saved(1000))
    per_record = (thousand - empty) / 1000
    total = sum(empty + per_record * count for count in range(1, OUTAGE + 1))
    return {
        "old_outbox_stall_ms_100k": round(stall, 1),
        "old_outbox_bytes_per_record_30s_gap": round(total / OUTAGE),
    }


def measure_sqlite_alternative(directory: Path) -> dict[str, float]:
    """Return bytes written per record by stdlib ``sqlite3`` for the same outage.

    The alternative the journal was chosen over: WAL mode, a transaction per
    flush (5 records queued, then 50 delivered), a final checkpoint; counted
    as the bytes of the process's write calls (``/proc/self/io`` ``wchar``).
    """

    bodies = [json.dumps(record(index).to_json()) for index in range(OUTAGE)]
    database = sqlite3.connect(directory / "outbox.db", isolation_level=None)
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("CREATE TABLE records (n INTEGER PRIMARY KEY, body TEXT)")
    before = proc_io("wchar")
    for first in range(0, OUTAGE, 5):
        database.execute("BEGIN")
        database.executemany(
            "INSERT INTO records VALUES (?, ?)",
            [(n, bodies[n]) for n in range(first, first + 5)],
        )
        database.execute("COMMIT")
    for first in range(0, OUTAGE, 50):
        database.execute("BEGIN")
        database.execute("DELETE FROM records WHERE n < ?", (first + 50,))
        database.execute("COMMIT")
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    return {"sqlite3_bytes_per_record": round((proc_io("wchar") - before) / OUTAGE)}
