"""Several batteries as one Flatpeak device: where they sit in the options, how they add up.

The options stay flat, one key per mapped entity: the first battery uses the
keys of a single battery (an entry saved by 0.1.0 is a one-battery mapping as it
is), the second one the same keys with ``_2``, and so on. Every mapped entity is
then an option value of its own, so that a rename or a missing entity is found
the same way for every battery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
import math
from typing import Any, Final

from ..const import CONF_ENERGY_ENTITY, CONF_POWER_ENTITY, CONF_SOC_ENTITY

CONF_CAPACITY: Final = "battery_capacity_kwh"
CONF_ESTIMATE_ENERGY: Final = "estimate_energy_remaining"
CONF_MAPPING_SOURCE: Final = "mapping_source"
MAX_BATTERIES: Final = 4

# The per-battery option keys; the other mapping keys are shared.
BATTERY_FIELDS: Final = (
    CONF_SOC_ENTITY,
    CONF_POWER_ENTITY,
    CONF_ENERGY_ENTITY,
    CONF_CAPACITY,
)
# Converted values keep a resolution of 0.1 W / 0.1 Wh (as mapping.DECIMALS).
_DECIMALS = 4


class MappingSource(StrEnum):
    """Where the mapping came from (shown in the diagnostics)."""

    ENERGY_DASHBOARD = "energy_dashboard"
    DEVICE = "device"
    ENTITIES = "entities"


def battery_key(field: str, index: int) -> str:
    """Return the option key of ``field`` for the battery at ``index`` (from 0)."""
    return field if index == 0 else f"{field}_{index + 1}"


def base_field(key: str) -> str:
    """Return the field an option key is about (``x_2`` -> ``x``)."""
    stem, _, number = key.rpartition("_")
    if stem in BATTERY_FIELDS and number.isdigit() and int(number) >= 2:
        return stem
    return key


def battery_count(options: Mapping[str, Any]) -> int:
    """Return how many batteries the options map (at least one)."""
    count = 1
    while battery_key(CONF_SOC_ENTITY, count) in options:
        count += 1
    return count


@dataclass(frozen=True, slots=True, kw_only=True)
class Battery:
    """One battery's entities; the capacity weights its state of charge."""

    soc_entity: str
    power_entity: str | None = None
    energy_entity: str | None = None
    capacity_kwh: float | None = None

    @property
    def entity_ids(self) -> tuple[str, ...]:
        """Return the battery's mapped entities."""
        ids = (self.soc_entity, self.power_entity, self.energy_entity)
        return tuple(i for i in ids if i)


def batteries_from_options(options: Mapping[str, Any]) -> tuple[Battery, ...]:
    """Read every mapped battery from a config entry's options."""
    return tuple(
        Battery(
            soc_entity=options[battery_key(CONF_SOC_ENTITY, index)],
            power_entity=options.get(battery_key(CONF_POWER_ENTITY, index)),
            energy_entity=options.get(battery_key(CONF_ENERGY_ENTITY, index)),
            capacity_kwh=options.get(battery_key(CONF_CAPACITY, index)),
        )
        for index in range(battery_count(options))
    )


def batteries_to_options(batteries: Sequence[Battery]) -> dict[str, Any]:
    """Return the option keys of ``batteries`` (unset values left out)."""
    options: dict[str, Any] = {}
    for index, battery in enumerate(batteries):
        values = (
            battery.soc_entity,
            battery.power_entity,
            battery.energy_entity,
            battery.capacity_kwh,
        )
        for field, value in zip(BATTERY_FIELDS, values, strict=True):
            if value is not None:
                options[battery_key(field, index)] = value
    return options


def weighted_soc(batteries: Sequence[Battery], socs: Sequence[float]) -> float:
    """Return the combined state of charge, weighted by capacity.

    Every battery weighs the same when one capacity is unknown. One battery's
    state of charge is returned as it is.
    """
    if len(socs) == 1:
        return socs[0]
    capacities = [b.capacity_kwh for b in batteries]
    weights = (
        [float(c) for c in capacities if c is not None]
        if all(c is not None and c > 0 for c in capacities)
        else [1.0] * len(socs)
    )
    total = sum(w * s for w, s in zip(weights, socs, strict=True))
    return round(total / sum(weights), _DECIMALS)


def summed_power_kw(
    batteries: Sequence[Battery], read_kw: Callable[[str], float | None]
) -> float | None:
    """Return the signed sum of every battery's power in kW.

    None unless every battery has a power entity that can be read: a partial
    sum would be a wrong figure; nor is a sum that overflows a figure.
    """
    total = 0.0
    for battery in batteries:
        if battery.power_entity is None:
            return None
        if (kw := read_kw(battery.power_entity)) is None:
            return None
        total += kw
    return _finite(total)


def summed_energy_kwh(
    batteries: Sequence[Battery],
    socs: Sequence[float | None],
    read_kwh: Callable[[str], float | None],
    *,
    estimate: bool,
) -> float | None:
    """Return the energy remaining in every battery, in kWh.

    A battery without an energy entity counts capacity x state of charge when
    ``estimate`` is on and its capacity is known; otherwise (or when a value
    cannot be read, or the sum overflows) there is no sum.
    """
    total = 0.0
    for battery, soc in zip(batteries, socs, strict=True):
        if battery.energy_entity is not None:
            kwh = read_kwh(battery.energy_entity)
        elif estimate and battery.capacity_kwh is not None and soc is not None:
            kwh = battery.capacity_kwh * soc / 100
        else:
            kwh = None
        if kwh is None:
            return None
        total += kwh
    return _finite(total)


def _finite(total: float) -> float | None:
    """Return a sum rounded, or None when it is not finite."""
    return round(total, _DECIMALS) if math.isfinite(total) else None
