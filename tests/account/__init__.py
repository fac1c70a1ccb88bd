"""Tests of the account and its devices: setup, unload, upgrade."""
