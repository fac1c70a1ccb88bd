"""The entities of each platform: states and registry entries, as snapshots.

Regenerate after a deliberate change: pytest tests/test_entities.py --snapshot-update
"""

from collections.abc import Generator
from datetime import UTC, datetime

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.flatpeak.const import DOMAIN

from .conftest import NEWEST_HOME_ASSISTANT, only_platform, settle

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
pytestmark = pytest.mark.skipif(
    not NEWEST_HOME_ASSISTANT,
    reason="entity snapshots are of the newest Home Assistant (requirements_test.txt)",
)


@pytest.fixture(
    autouse=True, params=[Platform.BINARY_SENSOR, Platform.BUTTON, Platform.SENSOR]
)
def platform(
    request: pytest.FixtureRequest, freezer: FrozenDateTimeFactory
) -> Generator[None]:
    """Load one platform at a time (``snapshot_platform`` wants one domain)."""
    freezer.move_to(NOW)
    yield from only_platform(request.param)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    # One accepted submission, so that every entity has a value.
    await hass.services.async_call(DOMAIN, "submit_device_state", {}, blocking=True)
    await settle(hass)
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)
