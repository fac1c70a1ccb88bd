"""Tests of delivery: snapshots, outbox, sender, faults."""
