"""Flatpeak for Home Assistant: push home-battery telemetry to Flatpeak."""
