"""Tests for Flatpeak for Home Assistant."""
