"""Delivery: snapshots, the persistent outbox, the sender, retries and status."""
