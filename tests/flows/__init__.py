"""Tests of the flows: account, device, repairs."""
