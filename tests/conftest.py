"""Shared fixtures: the Flatpeak sandbox and a Home Assistant with our integration."""

# Import our custom_components package before any fixture runs, so that the
# test harness's own (empty) custom_components package does not hide it.
import custom_components  # noqa: F401  # isort: skip

from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from datetime import UTC, datetime
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest

from flatpeak_sandbox import FlatpeakSandbox


@pytest.fixture
async def sandbox(socket_enabled: None) -> AsyncGenerator[FlatpeakSandbox]:
    """Run the Flatpeak sandbox on a free loopback port."""
    server = FlatpeakSandbox()
    await server.start()
    yield server
    await server.stop()


type SandboxFactory = Callable[..., Awaitable[FlatpeakSandbox]]


@pytest.fixture
async def make_sandbox(socket_enabled: None) -> AsyncGenerator[SandboxFactory]:
    """Start sandboxes with custom settings; every one is stopped afterwards."""
    started: list[FlatpeakSandbox] = []

    async def make(**kwargs: Any) -> FlatpeakSandbox:
        server = FlatpeakSandbox(**kwargs)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


# --- Home Assistant ------------------------------------------------------------

from collections.abc import Mapping  # noqa: E402

from homeassistant.config_entries import (  # noqa: E402
    ConfigSubentry,
    ConfigSubentryDataWithId,
)
from homeassistant.const import CONF_DEVICE_ID  # noqa: E402
from homeassistant.core import HomeAssistant  # noqa: E402
from pytest_homeassistant_custom_component.common import MockConfigEntry  # noqa: E402

from custom_components.flatpeak.account.migration import account_unique_id  # noqa: E402
from custom_components.flatpeak.account.runtime import FlatpeakRuntimeData  # noqa: E402
from custom_components.flatpeak.const import (  # noqa: E402
    CONF_ACCOUNT_ID,
    CONF_API_URL,
    CONF_ENERGY_ENTITY,
    CONF_HEARTBEAT_INTERVAL,
    CONF_MIN_INTERVAL,
    CONF_OUTBOX_MAX_AGE,
    CONF_OUTBOX_MAX_RECORDS,
    CONF_POWER_ENTITY,
    CONF_POWER_SIGN,
    CONF_RESERVE_PERCENT,
    CONF_SECRET_KEY,
    CONF_SOC_ENTITY,
    CONF_SUBMIT_ON_CHANGE,
    CONF_TARGET_SOC_ENTITY,
    DOMAIN,
    SUBENTRY_DEVICE,
)
from flatpeak_sandbox import DEFAULT_DEVICE_ID  # noqa: E402

SOC = "sensor.battery_soc"
TARGET = "sensor.battery_target"
POWER = "sensor.battery_power"
ENERGY = "sensor.battery_energy"
RESERVE = "sensor.battery_reserve"

MAPPING: dict[str, Any] = {
    CONF_SOC_ENTITY: SOC,
    CONF_TARGET_SOC_ENTITY: TARGET,
    CONF_POWER_ENTITY: POWER,
    CONF_POWER_SIGN: "positive_discharging",
    CONF_ENERGY_ENTITY: ENERGY,
    CONF_RESERVE_PERCENT: 20,
}
# What a mapping saved from the entities form records as its source.
FROM_ENTITIES: dict[str, Any] = {"mapping_source": "entities"}
BEHAVIOUR: dict[str, Any] = {
    CONF_SUBMIT_ON_CHANGE: True,
    CONF_MIN_INTERVAL: 30,
    CONF_HEARTBEAT_INTERVAL: 5,
    CONF_OUTBOX_MAX_AGE: 24,
    CONF_OUTBOX_MAX_RECORDS: 10_000,
}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let the harness load custom_components/flatpeak."""


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """Give every test its own config directory: the outbox writes real files."""
    return hass_tmp_config_dir


def set_battery(
    hass: HomeAssistant,
    *,
    soc: str | float = 55,
    target: str | float = 80,
    power: str | float = 1500,
    power_unit: str | None = "W",
    energy: str | float = 6.5,
    energy_unit: str | None = "kWh",
) -> None:
    """Write the simulated battery's states."""
    hass.states.async_set(
        SOC, str(soc), {"unit_of_measurement": "%", "device_class": "battery"}
    )
    hass.states.async_set(TARGET, str(target), {"unit_of_measurement": "%"})
    power_attrs: dict[str, Any] = {"device_class": "power"}
    if power_unit is not None:
        power_attrs["unit_of_measurement"] = power_unit
    hass.states.async_set(POWER, str(power), power_attrs)
    energy_attrs: dict[str, Any] = {"device_class": "energy_storage"}
    if energy_unit is not None:
        energy_attrs["unit_of_measurement"] = energy_unit
    hass.states.async_set(ENERGY, str(energy), energy_attrs)
    hass.states.async_set(RESERVE, "15", {"unit_of_measurement": "%"})


def set_soc(hass: HomeAssistant, value: float | str) -> None:
    """Change the simulated battery's state of charge."""
    hass.states.async_set(
        SOC, str(value), {"unit_of_measurement": "%", "device_class": "battery"}
    )


@pytest.fixture
def battery(hass: HomeAssistant) -> None:
    """Give the simulated battery its initial states."""
    set_battery(hass)


@pytest.fixture
def options() -> dict[str, Any]:
    """Return the device's options (override in a test module to change them)."""
    return {**MAPPING, **BEHAVIOUR}


# The device subentry of ``config_entry`` (not its entry ID: the tests would
# not see the one used for the other).
SUBENTRY_ID = "01JDEVICESUBENTRY0000000001"
# A second device of the account (the sandbox's demo device), and its subentry.
SECOND = "dev_demo2"
SECOND_SUBENTRY = "01JDEVICESUBENTRY0000000002"
DEVICE_TITLE = "Sandbox Energy Sandbox Battery 10"


def device_subentry_data(
    device_id: str,
    options: Mapping[str, Any],
    *,
    subentry_id: str,
    title: str = DEVICE_TITLE,
) -> ConfigSubentryDataWithId:
    """Return a device subentry as Home Assistant stores it."""
    return {
        "data": {CONF_DEVICE_ID: device_id, **options},
        "subentry_id": subentry_id,
        "subentry_type": SUBENTRY_DEVICE,
        "title": title,
        "unique_id": device_id,
    }


def account_data(sandbox: FlatpeakSandbox) -> dict[str, Any]:
    """Return the data of the sandbox's account entry."""
    return {
        CONF_ACCOUNT_ID: sandbox.account_id,
        CONF_SECRET_KEY: sandbox.secret_key,
        CONF_API_URL: sandbox.url,
    }


@pytest.fixture
def account_options() -> dict[str, Any]:
    """Return the account entry's options (override in a test module)."""
    return {}


@pytest.fixture
def config_entry(
    sandbox: FlatpeakSandbox,
    options: dict[str, Any],
    account_options: dict[str, Any],
) -> MockConfigEntry:
    """Return a Flatpeak account entry on the sandbox, with one device."""
    data = account_data(sandbox)
    return MockConfigEntry(
        domain=DOMAIN,
        version=2,
        title=f"Flatpeak {sandbox.account_id}",
        unique_id=account_unique_id(data),
        data=data,
        options=account_options,
        subentries_data=[
            device_subentry_data(DEFAULT_DEVICE_ID, options, subentry_id=SUBENTRY_ID)
        ],
    )


def account_with(sandbox: FlatpeakSandbox, *device_ids: str) -> MockConfigEntry:
    """Return an account entry with a device subentry for each of ``device_ids``.

    Each is added to the sandbox (the demo devices with their makes and
    locations: dev_demo1 and dev_demo2 share one home) and mapped to the
    simulated battery.
    """
    from flatpeak_sandbox.server import DEMO_DEVICES

    for device_id in device_ids:
        if device_id not in sandbox.devices:
            sandbox.add_device(device_id, **DEMO_DEVICES.get(device_id, {}))
    data = account_data(sandbox)
    return MockConfigEntry(
        domain=DOMAIN,
        version=2,
        title="Flatpeak",
        unique_id=account_unique_id(data),
        data=data,
        subentries_data=[
            device_subentry_data(
                device_id,
                {**MAPPING, **BEHAVIOUR},
                subentry_id=f"01JDEVICESUBENTRY00000000{index:02d}",
                title=" ".join(
                    filter(
                        None,
                        (
                            sandbox.devices[device_id].get("manufacturer"),
                            sandbox.devices[device_id].get("model"),
                        ),
                    )
                ),
            )
            for index, device_id in enumerate(device_ids, 1)
        ],
    )


def the_subentry(entry: MockConfigEntry) -> ConfigSubentry:
    """Return the entry's only device subentry."""
    [subentry] = entry.subentries.values()
    return subentry


def device_options(entry: MockConfigEntry) -> Mapping[str, Any]:
    """Return the data (mapping and settings) of the entry's only device."""
    return the_subentry(entry).data


def runtime_of(entry: MockConfigEntry) -> FlatpeakRuntimeData:
    """Return the loaded runtime of the entry's only device."""
    [runtime] = entry.runtime_data.devices.values()
    return runtime


def device_entry(hass: HomeAssistant, entry: MockConfigEntry, device_id: str) -> Any:
    """Return the Home Assistant device of a Flatpeak device ID of ``entry``."""
    from homeassistant.helpers import device_registry as dr

    [device] = [
        device
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        )
        if (DOMAIN, device_id) in device.identifiers
    ]
    return device


def battery_devices(hass: HomeAssistant, entry: MockConfigEntry) -> list[Any]:
    """Return the Home Assistant devices of ``entry``'s Flatpeak devices.

    Not the location devices of its price sensors (services, see test_reads).
    """
    from homeassistant.helpers import device_registry as dr

    return [
        device
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        )
        if device.entry_type is None
    ]


def set_device_options(
    hass: HomeAssistant, entry: MockConfigEntry, options: Mapping[str, Any]
) -> None:
    """Replace the data of the entry's only device (a loaded entry reloads)."""
    hass.config_entries.async_update_subentry(entry, the_subentry(entry), data=options)


def forget_received(sandbox: FlatpeakSandbox) -> None:
    """Forget what the sandbox received so far (e.g. the entry's start snapshot)."""
    sandbox.requests.clear()
    sandbox._states.clear()
    sandbox._by_reference.clear()


@pytest.fixture
async def init_integration(
    hass: HomeAssistant,
    battery: None,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> MockConfigEntry:
    """Set up the Flatpeak entry against the sandbox.

    The entry submits a snapshot when it starts; the sandbox's log is cleared
    after it, so that a test sees only what its own steps caused.
    """
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(sandbox.states()) == 1, "the start snapshot was not delivered"
    forget_received(sandbox)
    return config_entry


def entity_id(hass: HomeAssistant, key: str, domain: str = "sensor") -> str:
    """Return the entity id of one of the entry's entities by its key."""
    from homeassistant.helpers import entity_registry as er

    found = er.async_get(hass).async_get_entity_id(
        domain, DOMAIN, f"{DEFAULT_DEVICE_ID}_{key}"
    )
    assert found is not None, key
    return found


def state_of(hass: HomeAssistant, key: str, domain: str = "sensor") -> str:
    """Return the state of one of the entry's entities by its key."""
    state = hass.states.get(entity_id(hass, key, domain))
    assert state is not None
    return state.state


async def settle(hass: HomeAssistant) -> None:
    """Let every job, including background deliveries to the sandbox, finish."""
    await hass.async_block_till_done(wait_background_tasks=True)


async def advance(hass: HomeAssistant, freezer: Any, seconds: float) -> None:
    """Move the clock, fire what became due, and let deliveries finish."""
    from datetime import timedelta

    from pytest_homeassistant_custom_component.common import async_fire_time_changed

    # Listeners of what happened so far run at the current time first (HA
    # 2026.3 dispatches state-change listeners on the next loop iteration).
    await settle(hass)
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await settle(hass)


async def shown(hass: HomeAssistant, freezer: Any) -> None:
    """Let the entities show the newest status (they change at most once a second)."""
    await advance(hass, freezer, 1)


async def drain(
    hass: HomeAssistant, freezer: Any, entry: MockConfigEntry, steps: int = 1000
) -> None:
    """Step the clock by the backlog pace until the outbox is empty and shown."""
    for _ in range(steps):
        if not runtime_of(entry).outbox:
            await shown(hass, freezer)
            return
        await advance(hass, freezer, 0.5)
    raise AssertionError("the outbox did not drain")


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Enable the entities that are disabled by default (as core's fixture does)."""
    from unittest.mock import PropertyMock, patch

    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


def only_platform(platform: str) -> Generator[None]:
    """Set the entry up with one platform (``snapshot_platform`` wants one)."""
    from unittest.mock import patch

    with patch("custom_components.flatpeak.PLATFORMS", [platform]):
        yield


from pytest_homeassistant_custom_component.syrupy import (  # noqa: E402
    HomeAssistantSnapshotExtension,
)
from syrupy.assertion import SnapshotAssertion  # noqa: E402


def _is_newest_home_assistant() -> bool:
    """Return whether the Home Assistant of requirements_test.txt runs."""
    from importlib.metadata import version
    from pathlib import Path

    name = "pytest-homeassistant-custom-component"
    pins = (Path(__file__).parent.parent / "requirements_test.txt").read_text()
    return f"{name}=={version(name)}" in pins.splitlines()


# Entity registry entries and states differ between Home Assistant versions
# (new fields): their snapshots are of the newest one and skipped on the floor.
NEWEST_HOME_ASSISTANT = _is_newest_home_assistant()


class FlatpeakSnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's snapshot format, kept in tests/snapshots/ as core does."""

    snapshot_dirname = "snapshots"


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Return the snapshot assertion with Home Assistant's serializer."""
    return snapshot.use_extension(FlatpeakSnapshotExtension)


def pytest_configure(config: pytest.Config) -> None:
    """On the floor the entity snapshots are skipped, so not "unused" (a failure)."""
    if not NEWEST_HOME_ASSISTANT:
        config.option.warn_unused_snapshots = True


# A moment 10 s past a heartbeat boundary, where the delivery tests start.
START = datetime(2026, 11, 28, 10, 0, 10, tzinfo=UTC)


@pytest.fixture
def at_start(freezer: FrozenDateTimeFactory) -> None:
    """Freeze the clock at ``START``."""
    freezer.move_to(START)


class Clocks:
    """The wall clock (the freezer) and the monotonic clock, as a host has them.

    Under the freezer both clocks are one: a step of the frozen wall clock
    moves Home Assistant's timers (the loop's monotonic clock) too. A host's
    NTP step moves only the wall clock: ``step`` does that, ``advance`` moves
    both (time really passing).
    """

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        import time

        self.hass = hass
        self.freezer = freezer
        self.monotonic = time.monotonic()
        monkeypatch.setattr(time, "monotonic", lambda: self.monotonic)

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on both clocks; fire what became due."""
        self.monotonic += seconds
        await advance(self.hass, self.freezer, seconds)

    async def drain(self, entry: MockConfigEntry) -> None:
        """``drain`` on both clocks."""
        for _ in range(1000):
            if not runtime_of(entry).outbox:
                return
            await self.advance(0.5)
        raise AssertionError("the outbox did not drain")

    async def step(self, delta: Any) -> None:
        """Step the wall clock by ``delta`` (a timedelta); the monotonic stays."""
        from homeassistant.util import dt as dt_util
        from pytest_homeassistant_custom_component.common import async_fire_time_changed

        await settle(self.hass)
        self.freezer.move_to(dt_util.utcnow() + delta)
        async_fire_time_changed(self.hass)
        await settle(self.hass)


@pytest.fixture
def clocks(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> Clocks:
    """Return the two clocks, apart: a wall-clock step leaves the monotonic one."""
    return Clocks(hass, freezer, monkeypatch)


class RandomSource:
    """The random source of ``delivery/retry.py`` (backoff jitter, backlog delay), fixed.

    Every draw returns ``fraction`` of its range; the ranges are kept.
    """

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, low: float, high: float) -> float:
        self.ranges.append((low, high))
        return low + (high - low) * self.fraction


@pytest.fixture
def random_source(monkeypatch: pytest.MonkeyPatch) -> RandomSource:
    """Fix the random source at the edge (draws return the low end)."""
    from custom_components.flatpeak.delivery import retry

    source = RandomSource(0.0)
    monkeypatch.setattr(retry, "random", source)
    return source
