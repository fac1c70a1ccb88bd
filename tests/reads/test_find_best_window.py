"""The flatpeak.find_best_window action, through Home Assistant's service registry."""

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.script import Script, async_validate_actions_config
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)
import voluptuous as vol
import yaml

from custom_components.flatpeak.const import DOMAIN, ErrorCode
from custom_components.flatpeak.reads.best_window import DIRECTIONS, SEGMENTS
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox
from flatpeak_sandbox.prices import Override

from ..conftest import device_entry, runtime_of, settle
from ..test_hassfest import INTEGRATION, STRINGS
from ..test_services import SECOND, two_accounts  # noqa: F401  # a fixture

NOW = datetime(2026, 11, 28, 19, 0, 0, tzinfo=UTC)  # 19:00 in London
EVENING = "2026-11-28T20:00:00+00:00"
MORNING = "2026-11-29T07:00:00+00:00"
LOCATION = "loc_" + DEFAULT_DEVICE_ID.removeprefix("dev_")


@pytest.fixture(autouse=True)
async def _now(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOW)
    # Berlin is an hour ahead of the UTC the sandbox answers in.
    await hass.config.async_set_time_zone("Europe/Berlin")


async def find(hass: HomeAssistant, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, "find_best_window", data, blocking=True, return_response=True
    )


def schedule_bodies(sandbox: FlatpeakSandbox) -> list[Any]:
    return [r.body for r in sandbox.requests_to("schedules")]


async def test_the_cheapest_window_in_local_time(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    answer = await find(hass, duration=120, start=EVENING, end=MORNING)
    # The sandbox's night rate (00:00-05:00 in London) is the cheapest.
    period = {
        "start": "2026-11-29T01:00:00+01:00",
        "end": "2026-11-29T03:00:00+01:00",
        "minutes": 120,
        "average_price": 0.12,
    }
    assert answer == {
        "device_id": DEFAULT_DEVICE_ID,
        "location_id": LOCATION,
        "segment": "cheapest",
        "direction": "import",
        **period,
        "currency": "GBP",
        "unit": "GBP/kWh",
        "forecast": False,
        "periods": [period],
        "slots": [
            {
                "start": "2026-11-29T01:00:00+01:00",
                "end": "2026-11-29T03:00:00+01:00",
                "price": 0.12,
                "confidence": 1.0,
                "forecast": False,
                "vpp_event": False,
            }
        ],
    }
    assert schedule_bodies(sandbox) == [
        {
            "location_id": LOCATION,
            "device_id": DEFAULT_DEVICE_ID,
            "start_time": "2026-11-28T20:00:00Z",
            "end_time": "2026-11-29T07:00:00Z",
            "segment": "LOW",
            "duration": 120,
            "tariff_direction": "IMPORT",
        }
    ]
    # The device was looked up at setup: one request per call, no more.
    assert sandbox.requests_to("device") == []


async def test_the_dearest_window_from_now(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    sandbox.reads.overrides.append(
        Override(NOW, NOW + timedelta(minutes=30), 0.4)  # a dear half hour
    )
    answer = await find(hass, duration="90", end=MORNING, segment="DEAREST")
    assert [(s["start"], s["end"], s["price"]) for s in answer["slots"]] == [
        ("2026-11-28T20:00:00+01:00", "2026-11-28T20:30:00+01:00", 0.4),
        ("2026-11-28T20:30:00+01:00", "2026-11-28T21:30:00+01:00", 0.25),
    ]
    # Touching slots are one period; its average is weighted by duration.
    assert answer["periods"] == [
        {
            "start": "2026-11-28T20:00:00+01:00",
            "end": "2026-11-28T21:30:00+01:00",
            "minutes": 90,
            "average_price": 0.3,
        }
    ]
    assert answer["average_price"] == 0.3
    [body] = schedule_bodies(sandbox)
    assert body["start_time"] == "2026-11-28T19:00:00Z"  # now
    assert (body["segment"], body["tariff_direction"]) == ("HIGH", "IMPORT")
    # The export tariff's curve (overrides are per direction).
    answer = await find(hass, duration=30, end=MORNING, direction="EXPORT")
    assert (answer["direction"], answer["average_price"]) == ("export", 0.05)
    assert schedule_bodies(sandbox)[-1]["tariff_direction"] == "EXPORT"


async def test_split_windows_and_forecasts(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    """A cheap half hour in the evening: two periods, the second a forecast."""
    sandbox.reads.overrides.append(
        Override(
            datetime(2026, 11, 29, 18, 0, tzinfo=UTC),
            datetime(2026, 11, 29, 18, 30, tzinfo=UTC),
            0.02,
        )
    )
    answer = await find(
        hass,
        duration=90,
        # Naive times are Home Assistant's local time (Berlin).
        start="2026-11-29 18:00:00",
        end="2026-11-30 08:00:00",
    )
    assert answer["periods"] == [
        {
            "start": "2026-11-29T19:00:00+01:00",
            "end": "2026-11-29T19:30:00+01:00",
            "minutes": 30,
            "average_price": 0.02,
        },
        {
            "start": "2026-11-30T01:00:00+01:00",
            "end": "2026-11-30T02:00:00+01:00",
            "minutes": 60,
            "average_price": 0.125,
        },
    ]
    assert (answer["start"], answer["end"], answer["minutes"]) == (
        "2026-11-29T19:00:00+01:00",
        "2026-11-30T02:00:00+01:00",
        90,
    )
    assert answer["average_price"] == round((0.02 * 30 + 0.125 * 60) / 90, 5)
    # From 24 hours ahead the sandbox's prices are forecasts.
    assert [s["confidence"] for s in answer["slots"]] == [1.0, 0.8]
    assert [s["forecast"] for s in answer["slots"]] == [False, True]
    assert answer["forecast"] is True
    [body] = schedule_bodies(sandbox)
    assert (body["start_time"], body["end_time"]) == (
        "2026-11-29T17:00:00Z",
        "2026-11-30T07:00:00Z",
    )


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"duration": 0}, "duration_not_positive", "at least 1 minute, not 0"),
        ({"duration": -5}, "duration_not_positive", "not -5"),
        (
            {"start": MORNING, "end": EVENING},
            "window_reversed",
            "starts at 2026-11-29T08:00:00+01:00 and ends at 2026-11-28T21:00:00+01:00",
        ),
        ({"end": EVENING, "start": EVENING}, "window_reversed", "must end after"),
        (
            # F6: a window entirely in the past has no best window any more.
            {"start": "2026-11-28T16:00:00+00:00", "end": "2026-11-28T18:00:00+00:00"},
            "window_in_past",
            "ended at 2026-11-28T19:00:00+01:00, before now (2026-11-28T20:00:00+01:00)",
        ),
        (
            {"end": "2026-11-28T18:00:00+00:00"},
            "window_in_past",
            "ended at 2026-11-28T19:00:00+01:00",
        ),
        (
            {"end": "2026-12-01T19:00:01+00:00"},
            "window_too_long",
            "longer than 3 days",
        ),
        (
            {"duration": 61, "end": EVENING},
            "duration_exceeds_window",
            "61 minutes do not fit in the window of 60 minutes",
        ),
    ],
)
async def test_what_cannot_be_asked_is_refused_in_words(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    data: dict[str, Any],
    key: str,
    words: str,
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await find(hass, **{"duration": 60, "end": MORNING, **data})
    assert err.value.translation_key == key
    assert words in str(err.value)
    assert schedule_bodies(sandbox) == []


async def test_now_in_a_refusal_is_shown_to_the_second(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The UI shows the message as is: no microseconds, whole minutes (found in the browser)."""
    freezer.move_to(NOW + timedelta(seconds=30, microseconds=962816))
    with pytest.raises(ServiceValidationError) as err:
        await find(hass, duration=60, end="2026-11-28T18:00:00+00:00")
    assert "before now (2026-11-28T20:00:30+01:00)" in str(err.value)
    # The window from now (19:00:30, to the second) to 20:00 is 59.5 minutes:
    # it holds 59 whole ones.
    with pytest.raises(ServiceValidationError) as err:
        await find(hass, duration=60, end=EVENING)
    assert "60 minutes do not fit in the window of 59 minutes" in str(err.value)


async def test_three_days_and_the_whole_window_are_allowed(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    answer = await find(hass, duration=60, end=EVENING)
    assert answer["minutes"] == 60
    answer = await find(hass, duration=15, end="2026-12-01T19:00:00+00:00")
    assert answer["minutes"] == 15
    assert len(schedule_bodies(sandbox)) == 2


@pytest.mark.parametrize(
    "data",
    [
        {"duration": 1.5},
        {"duration": "lots"},
        {"duration": True},
        {"duration": "nan"},
        {"end": "tomorrow"},
        {"segment": "cheap"},
        {"direction": "local"},
        {"colour": "blue"},
    ],
)
async def test_malformed_data_is_refused_by_the_schema(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    data: dict[str, Any],
) -> None:
    with pytest.raises(vol.Invalid):
        await find(hass, **{"duration": 60, "end": MORNING, **data})
    with pytest.raises(vol.Invalid):
        await find(hass, duration=60)  # no end
    assert schedule_bodies(sandbox) == []


async def test_the_action_only_answers_with_a_response(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN, "find_best_window", {"duration": 60, "end": MORNING}, blocking=True
        )
    assert schedule_bodies(sandbox) == []


@pytest.mark.parametrize(
    ("tariff", "key", "words"),
    [
        ("not_connected", "no_tariff_connected", "No tariff is connected"),
        ("pending", "tariff_pending", "still being connected"),
        ("no_price_data", "no_price_data", "no price data"),
    ],
)
async def test_no_price_says_why(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    tariff: str,
    key: str,
    words: str,
) -> None:
    sandbox.reads.set_tariff(tariff, "EXPORT")
    with pytest.raises(HomeAssistantError) as err:
        await find(hass, duration=60, end=MORNING, direction="export")
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == key
    assert words in str(err.value)
    assert "(EXPORT)" in str(err.value)
    # The import tariff is still connected.
    assert (await find(hass, duration=60, end=MORNING))["minutes"] == 60


@pytest.mark.parametrize(
    ("fault", "key", "words"),
    [
        ({"status": 503}, "read_server_error", "The Flatpeak API failed"),
        ({"status": 429}, "read_rate_limited", "slow down"),
        (
            {"status": 422, "code": "something_else"},
            "read_rejected",
            "Flatpeak refused the request (rejected: Fault injected by the sandbox)",
        ),
        ({"status": 404}, "read_device_not_found", "does not know the device"),
        ({"status": 200, "body": "[]"}, "read_unexpected_response", "unexpectedly"),
    ],
)
async def test_flatpeak_failures_say_what_happened(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    fault: dict[str, Any],
    key: str,
    words: str,
) -> None:
    sandbox.fail_next(endpoint="schedules", **fault)
    with pytest.raises(HomeAssistantError) as err:
        await find(hass, duration=60, end=MORNING)
    assert err.value.translation_key == key
    assert words in str(err.value)
    # A read failure leaves delivery alone.
    assert runtime_of(init_integration).sender.paused_for is None


async def test_no_connection(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    sandbox.drop_next(endpoint="schedules")
    with pytest.raises(HomeAssistantError) as err:
        await find(hass, duration=60, end=MORNING)
    assert err.value.translation_key == "read_cannot_connect"
    assert str(err.value).startswith("Cannot reach the Flatpeak API")


async def test_refused_credentials_are_the_accounts_matter(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    sandbox.set_reject_credentials(True)
    with pytest.raises(HomeAssistantError) as err:
        await find(hass, duration=60, end=MORNING)
    assert err.value.translation_key == "read_auth_failed"
    await settle(hass)
    # As for a refused submission: one re-authentication, the device paused.
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert runtime_of(init_integration).sender.paused_for is ErrorCode.AUTH_FAILED


async def test_a_device_not_looked_up_at_setup_is_looked_up_now(
    hass: HomeAssistant,
    battery: None,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    sandbox.outage = True
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    assert runtime_of(config_entry).device is None
    with pytest.raises(HomeAssistantError) as err:
        await find(hass, duration=60, end=MORNING)
    assert err.value.translation_key == "read_cannot_connect"
    sandbox.outage = False
    sandbox.requests.clear()
    await find(hass, duration=60, end=MORNING)
    await find(hass, duration=30, end=MORNING)
    # Looked up once, then kept (the reads of prices may follow the lookup).
    looked_up = {"token", "device", "schedules"}
    assert [r.endpoint for r in sandbox.requests if r.endpoint in looked_up] == [
        "token",
        "device",
        "schedules",
        "schedules",
    ]


async def test_a_device_without_a_location(
    hass: HomeAssistant,
    battery: None,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    sandbox.add_device(DEFAULT_DEVICE_ID, locations=[])
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await find(hass, duration=60, end=MORNING)
    assert err.value.translation_key == "no_location"
    assert "Flatpeak has no location for the device" in str(err.value)
    assert schedule_bodies(sandbox) == []


@pytest.mark.usefixtures("two_accounts")
async def test_the_device_is_chosen_like_for_a_submission(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await find(hass, duration=60, end=MORNING)
    assert err.value.translation_key == "device_required"
    device = device_entry(hass, init_integration, SECOND)
    answer = await find(hass, duration=60, end=MORNING, device=device.id)
    assert (answer["device_id"], answer["location_id"]) == (SECOND, "loc_demo_home")
    [body] = schedule_bodies(sandbox)
    assert (body["device_id"], body["location_id"]) == (SECOND, "loc_demo_home")


def test_the_selectors_offer_what_the_action_takes() -> None:
    fields = yaml.safe_load((INTEGRATION / "services.yaml").read_text())[
        "find_best_window"
    ]["fields"]
    for name, values in (("segment", SEGMENTS), ("direction", DIRECTIONS)):
        select = fields[name]["selector"]["select"]
        assert select["options"] == list(values)
        assert set(STRINGS["selector"][select["translation_key"]]["options"]) == set(
            values
        )
    assert (
        fields["duration"]["selector"]["number"]["max"]
        == timedelta(days=3).total_seconds() // 60
    )


async def test_an_empty_answer(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    sandbox.fail_next(200, endpoint="schedules", body='{"data": []}')
    answer = await find(hass, duration=60, end=MORNING)
    assert {k: answer[k] for k in ("start", "end", "minutes", "average_price")} == {
        "start": None,
        "end": None,
        "minutes": 0,
        "average_price": None,
    }
    assert (answer["periods"], answer["slots"], answer["forecast"]) == ([], [], False)


def readme_section() -> str:
    readme = (INTEGRATION.parent.parent / "README.md").read_text()
    start = readme.index("\n## Action: `flatpeak.find_best_window`")
    return readme[start : readme.index("\n## ", start + 1)]


def readme_yaml() -> list[Any]:
    section = readme_section()
    return [
        yaml.safe_load(block.split("```", 1)[0])
        for block in section.split("```yaml\n")[1:]
    ]


async def test_the_readme_response_has_the_actions_keys(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    documented = readme_yaml()[0]
    answer = await find(hass, duration=90, end=MORNING)
    assert set(documented) == set(answer)
    assert set(documented["periods"][0]) == set(answer["periods"][0])
    assert set(documented["slots"][0]) == set(answer["slots"][0])
    slots = documented["slots"]
    weighted = sum(
        s["price"]
        * (datetime.fromisoformat(s["end"]) - datetime.fromisoformat(s["start"]))
        / timedelta(minutes=1)
        for s in slots
    )
    assert documented["average_price"] == round(weighted / documented["minutes"], 5)


async def test_the_readme_examples_run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    await hass.config.async_set_time_zone("Europe/London")
    notes = async_mock_service(hass, "notify", "notify")
    _, automations, dearest = readme_yaml()
    assert await async_setup_component(hass, "automation", automations)
    freezer.move_to(datetime(2026, 11, 28, 20, 0, 0, tzinfo=UTC))
    async_fire_time_changed(hass)
    await settle(hass)
    [body] = schedule_bodies(sandbox)
    assert (body["start_time"], body["end_time"]) == (
        "2026-11-28T20:00:00Z",
        "2026-11-29T07:00:00Z",
    )
    assert [note.data["message"] for note in notes] == [
        "Charge from 00:00 at 0.12 GBP/kWh (1 period(s))."
    ]
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": "all"}, blocking=True
    )
    sequence = await async_validate_actions_config(hass, cv.SCRIPT_SCHEMA([dearest]))
    result = await Script(hass, sequence, "README", DOMAIN).async_run(context=Context())
    assert result is not None
    best = result.variables["best"]
    assert (best["segment"], best["direction"], best["minutes"]) == (
        "dearest",
        "export",
        60,
    )
    # Tomorrow 16:00-17:00 in London: the export peak.
    assert best["start"] == "2026-11-29T16:00:00+00:00"
