"""Reading the mapped entities' states: numbers in the right unit, or why not.

What counts as a number is what Home Assistant itself counts: its sensor
platform, the ``numeric_state`` condition, the template ``is_number`` test and
the long-term statistics all use ``float()`` and refuse a non-finite result.
So ``" 5 "``, ``"1_000"`` and full-width digits (U+FF10-U+FF19, as an East
Asian input method types them) are numbers, as Home Assistant's own graphs and
automations take them; ``"0x10"``, ``"5,5"`` and ``""`` are not, nor are
``"nan"``, ``"inf"`` and ``"1e400"``. A number that is no longer finite once
converted (1e306 MW in kW) is out of range.

Every reader raises ``SnapshotError`` and nothing else: an unexpected error
while reading an entity becomes ``invalid_data`` naming that entity.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from functools import wraps
import math
from typing import Any

from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    PERCENTAGE,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util.unit_conversion import (
    BaseUnitConverter,
    EnergyConverter,
    PowerConverter,
)

from ..const import (
    CONF_ENERGY_ENTITY,
    CONF_POWER_ENTITY,
    CONF_RESERVE_ENTITY,
    CONF_SOC_ENTITY,
    CONF_TARGET_SOC_ENTITY,
    SubmissionStatus,
)
from .batteries import base_field

# A percentage this close outside 0-100 is sent clamped (100.3 -> 100).
PERCENT_TOLERANCE = 1.0

# Converted values keep a resolution of 0.1 W / 0.1 Wh.
DECIMALS = 4

# Which units each mapped field accepts, and the form error when it does not.
# A percentage needs its unit: a bare 0.55 may be a fraction, not 0.55 %.
PERCENT_UNITS: frozenset[str | None] = frozenset({PERCENTAGE})
FIELD_UNITS: dict[str, tuple[frozenset[str | None], str]] = {
    CONF_SOC_ENTITY: (PERCENT_UNITS, "not_a_percentage"),
    CONF_TARGET_SOC_ENTITY: (PERCENT_UNITS, "not_a_percentage"),
    CONF_RESERVE_ENTITY: (PERCENT_UNITS, "not_a_percentage"),
    CONF_POWER_ENTITY: (frozenset(PowerConverter.VALID_UNITS), "invalid_power_unit"),
    CONF_ENERGY_ENTITY: (
        frozenset(EnergyConverter.VALID_UNITS),
        "invalid_energy_unit",
    ),
}


class SnapshotError(Exception):
    """A required value cannot be read; nothing is submitted.

    A domain error: the action and the button translate it (``delivery/errors.py``).
    """

    def __init__(self, status: SubmissionStatus, key: str, **placeholders: str) -> None:
        """Record the status it implies and the reason's translation key."""
        super().__init__(key)
        self.status = status
        self.translation_key = key
        self.translation_placeholders = placeholders

    @property
    def entity_id(self) -> str | None:
        """Return the entity that could not be read."""
        return self.translation_placeholders.get("entity_id")


def entity_problem(hass: HomeAssistant, field: str, entity_id: str) -> str | None:
    """Return why ``entity_id`` cannot feed ``field`` (a form error key), or None.

    A disabled entity has no state, ever: it is refused. The unit comes from
    the state, or from the entity registry while the entity is unavailable; an
    entity whose unit cannot be told yet passes.
    """
    valid_units, error = FIELD_UNITS[base_field(field)]
    state = hass.states.get(entity_id)
    entry = er.async_get(hass).async_get(entity_id)
    if state is None and entry is None:
        return "entity_not_found"
    if entry is not None and entry.disabled_by is not None:
        return "entity_disabled"
    if state is not None and state.state not in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    elif entry is not None and entry.unit_of_measurement is not None:
        unit = entry.unit_of_measurement
    else:
        return None
    return None if _known_unit(unit, valid_units) else error


def _known_unit(unit: Any, valid_units: Collection[str | None]) -> bool:
    """Return whether ``unit`` is one of ``valid_units`` (an attribute can be anything)."""
    return isinstance(unit, str) and unit in valid_units


def mapping_problems(hass: HomeAssistant, options: Mapping[str, Any]) -> dict[str, str]:
    """Return the mapped fields whose entity is missing or has an unusable unit."""
    return {
        field: problem
        for field, entity_id in options.items()
        if base_field(field) in FIELD_UNITS
        and entity_id
        and (problem := entity_problem(hass, field, entity_id))
    }


def _number(hass: HomeAssistant, entity_id: str) -> tuple[float, State]:
    state = hass.states.get(entity_id)
    if state is None:
        raise SnapshotError(
            SubmissionStatus.WAITING_FOR_DATA, "entity_missing", entity_id=entity_id
        )
    if state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
        raise SnapshotError(
            SubmissionStatus.WAITING_FOR_DATA,
            "entity_unavailable",
            entity_id=entity_id,
        )
    try:
        value = float(state.state)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise SnapshotError(
            SubmissionStatus.INVALID_DATA,
            "not_a_number",
            entity_id=entity_id,
            state=state.state[:32],
        )
    return value, state


def _number_in(
    hass: HomeAssistant,
    entity_id: str,
    valid_units: Collection[str | None],
    expected: str,
) -> tuple[float, str | None]:
    """Read a number and its unit; a unit outside ``valid_units`` is refused."""
    value, state = _number(hass, entity_id)
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if unit is None:
        raise SnapshotError(
            SubmissionStatus.INVALID_DATA,
            "unit_missing",
            entity_id=entity_id,
            expected=expected,
        )
    if not _known_unit(unit, valid_units):
        raise SnapshotError(
            SubmissionStatus.INVALID_DATA,
            "unit_not_supported",
            entity_id=entity_id,
            unit=str(unit),
            expected=expected,
        )
    return value, unit


def _out_of_range(entity_id: str, value: float | str) -> SnapshotError:
    return SnapshotError(
        SubmissionStatus.INVALID_DATA,
        "out_of_range",
        entity_id=entity_id,
        value=value[:32] if isinstance(value, str) else f"{value:g}",
    )


type Reader = Callable[[HomeAssistant, str], float]


def _reader(read: Reader) -> Reader:
    """Let ``read`` raise ``SnapshotError`` only, naming the entity it reads.

    A reader returns a finite number or raises ``SnapshotError``; anything
    else it raises is a bug this turns into ``out_of_range``.
    """

    @wraps(read)
    def guarded(hass: HomeAssistant, entity_id: str) -> float:
        try:
            return read(hass, entity_id)
        except SnapshotError:
            raise
        except (ArithmeticError, TypeError, ValueError) as err:
            state = hass.states.get(entity_id)
            raise _out_of_range(entity_id, state.state if state else "") from err

    return guarded


@_reader
def read_percent(hass: HomeAssistant, entity_id: str) -> float:
    """Read a percentage (0-100); a unit other than % is refused.

    Real inverters report 100.3 %: a value within ``PERCENT_TOLERANCE`` outside
    0-100 is clamped; further out it is out of range.
    """
    value, _ = _number_in(hass, entity_id, PERCENT_UNITS, PERCENTAGE)
    if not -PERCENT_TOLERANCE <= value <= 100 + PERCENT_TOLERANCE:
        raise _out_of_range(entity_id, value)
    return min(100.0, max(0.0, value))


def _convert(
    hass: HomeAssistant,
    entity_id: str,
    converter: type[BaseUnitConverter],
    target: str,
) -> float:
    value, unit = _number_in(hass, entity_id, converter.VALID_UNITS, target)
    converted = converter.convert(value, unit, target)
    if not math.isfinite(converted):
        raise _out_of_range(entity_id, f"{value:g} {unit}")
    return round(converted, DECIMALS)


@_reader
def read_power_kw(hass: HomeAssistant, entity_id: str) -> float:
    """Read a power in kW, with its sign."""
    return _convert(hass, entity_id, PowerConverter, UnitOfPower.KILO_WATT)


@_reader
def read_energy(hass: HomeAssistant, entity_id: str) -> float:
    """Read the energy remaining in kWh; a negative value is refused."""
    kwh = _convert(hass, entity_id, EnergyConverter, UnitOfEnergy.KILO_WATT_HOUR)
    if kwh < 0:
        raise _out_of_range(entity_id, kwh)
    return kwh


def read_optional(read: Reader, hass: HomeAssistant, entity_id: str) -> float | None:
    """Read an optional value; one that cannot be read is left out."""
    try:
        return read(hass, entity_id)
    except SnapshotError:
        return None
