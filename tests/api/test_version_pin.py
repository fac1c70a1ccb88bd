"""The integration pins Flatpeak's API version, and a refused pin loses nothing."""

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flatpeak.api import API_VERSION
from flatpeak_sandbox import FlatpeakSandbox

from ..conftest import advance, runtime_of, set_soc, state_of

pytestmark = pytest.mark.usefixtures("at_start")


async def test_an_account_refusing_the_pinned_version_loses_no_record(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Flatpeak answers 422 ``api_version_not_supported`` when the account's
    default version is newer than the pin: that is no verdict on the record,
    so it stays queued and is delivered once the API takes it."""
    runtime = runtime_of(init_integration)
    sandbox.fail_next(422, endpoint="state", code="api_version_not_supported")
    set_soc(hass, 61)
    await advance(hass, freezer, 31)
    assert [r.status for r in sandbox.requests_to("state")] == [422]
    assert len(runtime.outbox) == 1
    assert runtime.outbox.rejected == 0
    assert state_of(hass, "rejected_records") == "0"
    await advance(hass, freezer, 60)  # past the first backoff, before a heartbeat
    assert [r.status for r in sandbox.requests_to("state")] == [422, 200]
    assert not runtime.outbox
    assert sandbox.states()[-1]["state_of_charge_percent"] == 61
    assert {r.api_version for r in sandbox.requests} == {API_VERSION}
