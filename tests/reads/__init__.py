"""Tests of what Flatpeak holds, read back."""
