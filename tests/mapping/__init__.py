"""Tests of the battery mapping: units, signs, sources, awkward states."""
