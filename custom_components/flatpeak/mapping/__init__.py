"""The battery mapping: from Home Assistant entities to a Flatpeak device state."""
