"""Tests of the API client (no Home Assistant)."""
