"""Read entities that come and go: VPP entities with a participation, prices with a location.

Home Assistant's dynamic entities: a listener on the coordinator adds the
entities when what they show appears (and removes the VPP ones, from the
entity registry too, when the device has no participation any more).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..coordinator import PriceCoordinator, VppCoordinator

if TYPE_CHECKING:
    from ..account.runtime import FlatpeakConfigEntry
    from .readback import LocationReads


@callback
def async_follow_participation(
    hass: HomeAssistant,
    entry: FlatpeakConfigEntry,
    coordinator: VppCoordinator,
    make: Callable[[VppCoordinator], Iterable[Entity]],
    add: Callable[[list[Entity]], None],
) -> None:
    """Add ``make``'s entities while the device has a participation.

    They are removed (from the entity registry too) when it has none any more.

    A failed read keeps them (unavailable): only an answer without a
    participation removes them.
    """
    added: list[Entity] = []

    @callback
    def check() -> None:
        if coordinator.data is None:
            return
        if coordinator.participation is not None and not added:
            added.extend(make(coordinator))
            add(list(added))
        elif coordinator.participation is None and added:
            registry = er.async_get(hass)
            for entity in added:
                if entity.registry_entry is not None:
                    registry.async_remove(entity.entity_id)
            added.clear()

    check()
    entry.async_on_unload(coordinator.async_add_listener(check))


@callback
def async_follow_location(
    entry: FlatpeakConfigEntry,
    reads: LocationReads,
    build: Callable[[PriceCoordinator, str, str | None], Entity],
    add: Callable[[list[Entity]], None],
) -> None:
    """Add a location's price sensors once its currency is known and prices asked.

    ``build`` makes the sensor of one direction's prices from its coordinator,
    the currency and the location's reference (the sensor platform's class).
    """
    added = False

    @callback
    def check() -> None:
        nonlocal added
        if added or (currency := reads.currency) is None:
            return
        if any(
            prices.data is None and prices.last_update_success
            for prices in reads.prices.values()
        ):
            return  # not asked yet: no "unknown" first state in the history
        added = True
        location = reads.location.data
        reference = location.reference_id if location is not None else None
        add([build(prices, currency, reference) for prices in reads.prices.values()])

    check()
    for coordinator in reads.coordinators:
        entry.async_on_unload(coordinator.async_add_listener(check))


def entity_adder(
    async_add_entities: AddConfigEntryEntitiesCallback, subentry_id: str | None
) -> Callable[[list[Entity]], None]:
    """Return a callback adding entities to ``subentry_id`` (None: the account)."""

    @callback
    def add(entities: list[Entity]) -> None:
        async_add_entities(entities, config_subentry_id=subentry_id)

    return add
