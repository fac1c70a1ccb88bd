"""A user with two batteries on one Flatpeak account, in the browser: Debian's Chromium via Playwright.

Adds the account with its first device (mapped by picking the battery's device),
adds the second device from the account's page, changes one device's gap,
reconfigures the account and fixes a repair.
"""

from collections.abc import Iterator
from functools import partial
from pathlib import Path
import re
import shutil
from typing import Any

from playwright.sync_api import Browser, Page, expect, sync_playwright
import pytest

from devtools.homeassistant_process import HttpError
from flatpeak_sandbox import DEFAULT_ACCOUNT_ID, DEFAULT_DEVICE_ID, DEFAULT_SECRET_KEY

from .conftest import BROWSER_DEVICE_ID, Stack, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Both sandbox devices are the same model: the second is told apart by its reference.
FIRST_TITLE = "Sandbox Energy Sandbox Battery 10"
SECOND_TITLE = "Sandbox Energy Sandbox Battery 10 (battery-0001)"
FIRST = "sandbox_energy_sandbox_battery_10"
SECOND = "sandbox_energy_sandbox_battery_10_battery_0001"
ACCOUNT_TITLE = f"Flatpeak {DEFAULT_ACCOUNT_ID}"
TARGET = "sensor.demo_battery_target"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        pytest.fail("Chromium is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


def shot(page: Page, stack: Stack, name: str) -> None:
    page.screenshot(path=str(stack.artifacts / f"browser-{name}.png"))


def pick_entity(page: Page, search: str, name: str) -> None:
    """Open the next empty entity picker of the dialog and choose ``name``."""
    dialog = page.locator("dialog-data-entry-flow")
    dialog.get_by_text("Select an entity").first.click()
    # Type only once the picker's search field has the focus: elsewhere, keys
    # are Home Assistant's shortcuts ("a" opens Assist).
    page.locator("input:focus").fill(search)
    page.get_by_text(name, exact=True).first.click()


def login(browser: Browser, stack: Stack) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(20_000)
    page.goto(stack.hass.url)
    page.get_by_role("textbox", name="Username").fill(stack.owner.username)
    page.get_by_role("textbox", name="Password").fill(stack.owner.password)
    shot(page, stack, "1-login")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/home/**")
    return page


def is_state(stack: Stack, entity_id: str, expected: str) -> bool:
    return state(stack, entity_id) == expected


def state(stack: Stack, entity_id: str) -> str | None:
    try:
        answer: dict[str, Any] = stack.api("GET", f"/api/states/{entity_id}")
    except HttpError:
        return None
    return str(answer["state"])


def test_two_batteries_of_one_account_in_the_browser(
    stack: Stack, browser: Browser
) -> None:
    """A user with two batteries on one account adds both, sees two devices,
    changes one device's gap without its mapping, reconfigures the account and
    fixes a repair."""
    page = login(browser, stack)
    try:
        walk(page, stack)
    finally:
        page.close()
        # Leave the shared Home Assistant as test_rest expects it: no entry yet.
        for entry in stack.api(
            "GET", "/api/config/config_entries/entry?domain=flatpeak"
        ):
            stack.api("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")


def walk(page: Page, stack: Stack) -> None:
    """Two devices, one gap changed, the account reconfigured, a repair fixed."""
    add_the_account(page, stack)
    add_the_second_device(page, stack)
    entry_id = stack.api(
        "POST",
        "/api/template",
        {"template": f"{{{{ config_entry_id('button.{FIRST}_submit_now') }}}}"},
    )
    # Two devices with distinct names and entity IDs, in one account entry.
    for prefix in (FIRST, SECOND):
        wait_for(
            partial(is_state, stack, f"sensor.{prefix}_submission_status", "ok"),
            what=f"the device {prefix}",
        )
        assert (
            stack.api(
                "POST",
                "/api/template",
                {
                    "template": f"{{{{ config_entry_id('sensor.{prefix}_last_error') }}}}"
                },
            )
            == entry_id
        )
    change_the_gap_of_one_device(page, stack, entry_id)
    device_id = stack.api(
        "POST",
        "/api/template",
        {"template": f"{{{{ device_id('button.{FIRST}_submit_now') }}}}"},
    )
    reconfigure(page, stack)
    repair_the_mapping(page, stack, device_id)


def add_the_account(page: Page, stack: Stack) -> None:
    """The first run: credentials (a URL error opens its section), the first
    device, its mapping picked from the demo battery's device."""
    page.goto(f"{stack.hass.url}/config/integrations/dashboard")
    page.get_by_role("button", name="Add integration").click()
    page.get_by_placeholder("Search for a brand name").fill("Flatpeak")
    page.get_by_text("Flatpeak", exact=True).first.click()
    dialog = page.locator("dialog-data-entry-flow")
    expect(dialog.get_by_text("Connect to Flatpeak")).to_be_visible()
    dialog.get_by_role("textbox", name="Account ID").fill(DEFAULT_ACCOUNT_ID)
    dialog.get_by_role("textbox", name="Secret key").fill(DEFAULT_SECRET_KEY)
    dialog.get_by_text("Advanced options").click()
    url = dialog.get_by_role("textbox", name="API URL")
    url.fill("http://192.0.2.1:8080")
    dialog.get_by_text("Advanced options").click()  # closed again
    expect(url).to_be_hidden()
    dialog.get_by_role("button", name="Submit").click()
    # The error names the URL, and its section opens to show it.
    expect(dialog.get_by_text("The API URL must start with https://")).to_be_visible()
    expect(url).to_be_visible()
    url.fill(stack.sandbox.url)
    shot(page, stack, "2-credentials")
    dialog.get_by_role("button", name="Submit").click()
    expect(dialog.get_by_text("Your Flatpeak device")).to_be_visible()
    dialog.get_by_role("textbox", name="Flatpeak device ID").fill(BROWSER_DEVICE_ID)
    dialog.get_by_role("button", name="Submit").click()

    # The choice: the demo home's Energy dashboard has the battery, and the
    # battery is a device.
    expect(dialog.get_by_text("Where should the battery mapping")).to_be_visible()
    expect(dialog.get_by_text("From the Energy dashboard", exact=False)).to_be_visible()
    shot(page, stack, "3-battery-source")
    dialog.get_by_text("Pick the battery device", exact=False).click()
    expect(dialog.get_by_text("Only devices with a battery sensor")).to_be_visible()
    dialog.get_by_text(re.compile("Select a device|Add device")).first.click()
    page.locator("input:focus").fill("Demo battery")
    page.get_by_text("Demo battery", exact=True).first.click()
    dialog.get_by_role("button", name="Submit").click()
    # The entities form, pre-filled from the device's sensors.
    expect(dialog.get_by_text("Battery entities")).to_be_visible()
    for name in ("State of charge", "Power", "Energy remaining"):
        expect(dialog.get_by_text(name, exact=True).first).to_be_visible()
    pick_entity(page, "Demo battery target", "Demo battery target")
    reserve = dialog.get_by_role("spinbutton", name="Fixed backup reserve")
    reserve.click()
    reserve.press_sequentially("20")
    expect(reserve).to_have_value("20")
    shot(page, stack, "3-battery-device")
    dialog.get_by_role("button", name="Submit").click()
    expect(
        dialog.get_by_text("Name and assign").or_(dialog.get_by_text("Success"))
    ).to_be_visible()
    shot(page, stack, "4-created")
    dialog.get_by_role("button", name="Skip and finish").or_(
        dialog.get_by_role("button", name="Finish")
    ).click()
    records = wait_for(
        lambda: stack.sandbox.states(BROWSER_DEVICE_ID),
        what="the first device's start snapshot",
    )
    body = records[0]["body"]
    assert body["backup_reserve_percent"] == 20
    assert body["target_state_of_charge_percent"] == 80
    # Power and energy remaining came with the device.
    assert "battery_power_kw" in body
    assert "energy_remaining_kwh" in body


def add_the_second_device(page: Page, stack: Stack) -> None:
    """ "Add device" on the account's page: a known device is refused on its
    field, then the second battery, mapped with the entities form."""
    page.goto(f"{stack.hass.url}/config/integrations/integration/flatpeak")
    page.get_by_role("button", name="Add device").click()
    dialog = page.locator("dialog-data-entry-flow")
    expect(dialog.get_by_text("Add a Flatpeak device")).to_be_visible()
    device_id = dialog.get_by_role("textbox", name="Flatpeak device ID")
    device_id.fill(BROWSER_DEVICE_ID)
    dialog.get_by_role("button", name="Submit").click()
    expect(dialog.get_by_text("This Flatpeak device is already set up")).to_be_visible()
    expect(device_id).to_have_value(BROWSER_DEVICE_ID)  # what was typed stays
    device_id.fill(DEFAULT_DEVICE_ID)
    dialog.get_by_role("button", name="Submit").click()
    expect(dialog.get_by_text("Where should the battery mapping")).to_be_visible()
    dialog.get_by_text("Choose the entities", exact=True).click()
    expect(dialog.get_by_text("Battery entities")).to_be_visible()
    # The picker lists the sensor by its name, its device below it.
    dialog.get_by_text("Select an entity").first.click()
    page.locator("input:focus").fill("Demo battery state")
    page.get_by_text("Demo battery", exact=True).first.click()
    target = dialog.get_by_role("spinbutton", name="Fixed target state of charge")
    target.click()
    target.press_sequentially("90")
    shot(page, stack, "5-second-device")
    dialog.get_by_role("button", name="Submit").click()
    expect(dialog.get_by_text("Success", exact=True)).to_be_visible()
    dialog.get_by_role("button", name="Finish").or_(
        dialog.get_by_role("button", name="Close")
    ).first.click()
    page.goto(f"{stack.hass.url}/config/integrations/integration/flatpeak")
    # Two devices under the account, named apart (same model: the reference).
    expect(page.get_by_text(SECOND_TITLE).first).to_be_visible()
    expect(page.get_by_text(FIRST_TITLE, exact=True).first).to_be_visible()
    shot(page, stack, "6-two-devices")


def change_the_gap_of_one_device(page: Page, stack: Stack, entry_id: str) -> None:
    """A device's reconfigure: the menu, then its submission settings only."""
    page.goto(f"{stack.hass.url}/config/integrations/integration/flatpeak")
    page.get_by_text(SECOND_TITLE).first.wait_for()
    # Each device's row has its "Change device" (gear) button, in their order;
    # the dialog's title says which device it is.
    page.get_by_role("button", name="Change device").nth(1).click()
    dialog = page.locator("dialog-data-entry-flow")
    expect(dialog.get_by_text(f"Change {SECOND_TITLE}")).to_be_visible()
    expect(dialog.get_by_text("Its ID cannot be changed")).to_be_visible()
    shot(page, stack, "7-change-device")
    dialog.get_by_text("Submission settings", exact=True).click()
    expect(dialog.get_by_text("Cannot be changed:")).to_be_visible()
    gap = dialog.get_by_role("spinbutton", name="Minimum time between submissions")
    gap.fill("90")
    shot(page, stack, "8-submission-settings")
    dialog.get_by_role("button", name="Submit").click()
    expect(
        dialog.get_by_text(re.compile("Re-?configuration was successful"))
    ).to_be_visible()
    dialog.get_by_role("button", name="Finish").or_(
        dialog.get_by_role("button", name="Close")
    ).first.click()
    diagnostics = stack.api("GET", f"/api/diagnostics/config_entry/{entry_id}")
    settings = {
        device["subentry"]["title"]: device["subentry"]["data"]["min_interval"]
        for device in diagnostics["data"]["devices"].values()
    }
    # One device's gap changed; the other's, and its mapping, did not.
    assert settings == {FIRST_TITLE: 30, SECOND_TITLE: 90}


def reconfigure(page: Page, stack: Stack) -> None:
    """Reconfigure the account: the form is pre-filled; an empty secret keeps it."""
    page.goto(f"{stack.hass.url}/config/integrations/integration/flatpeak")
    page.get_by_text(ACCOUNT_TITLE).first.wait_for()
    # The page's own menu comes first, then the entry's.
    page.get_by_role("button", name="Menu").nth(1).click()
    page.get_by_text("Reconfigure", exact=True).click()
    dialog = page.locator("dialog-data-entry-flow")
    expect(dialog.get_by_text("Reconfigure Flatpeak")).to_be_visible()
    expect(dialog.get_by_text("The entry stays with its account")).to_be_visible()
    expect(
        dialog.get_by_text("Leave empty to keep the stored secret key.")
    ).to_be_visible()
    account = dialog.get_by_role("textbox", name="Account ID")
    expect(account).to_have_value(DEFAULT_ACCOUNT_ID)
    expect(dialog.get_by_role("textbox", name="Secret key")).to_have_value("")
    shot(page, stack, "9-reconfigure")
    dialog.get_by_role("button", name="Submit").click()
    expect(
        dialog.get_by_text(re.compile("Re-?configuration was successful"))
    ).to_be_visible()
    shot(page, stack, "10-reconfigured")
    dialog.get_by_role("button", name="Finish").or_(
        dialog.get_by_role("button", name="Close")
    ).first.click()


def repair_the_mapping(page: Page, stack: Stack, device_id: str) -> None:
    """Break the mapping (the target is no longer in %), then fix it in Repairs."""
    before = len(stack.sandbox.states(BROWSER_DEVICE_ID))
    stack.api(
        "POST",
        f"/api/states/{TARGET}",
        {"state": "0.8", "attributes": {"friendly_name": "Demo battery target"}},
    )
    page.goto(f"{stack.hass.url}/config/repairs")
    issue = page.get_by_text(f"Fix the battery mapping of {FIRST_TITLE}").first
    issue.click()
    dialog = page.locator("dialog-repairs-issue, dialog-data-entry-flow").last
    expect(dialog.get_by_text("Fix the battery mapping")).to_be_visible()
    # First what is broken, and with what; then the same choice of source.
    expect(
        dialog.get_by_text(f"{TARGET}: This entity is not in %", exact=False)
    ).to_be_visible()
    shot(page, stack, "11-repair-says-what")
    # The entities form is pre-filled, without error.
    dialog.get_by_text("Choose the entities", exact=True).click()
    expect(dialog.get_by_text("State of charge", exact=True).first).to_be_visible()
    expect(dialog.get_by_role("spinbutton", name="Fixed backup reserve")).to_have_value(
        "20"
    )
    expect(dialog.locator('ha-alert[alert-type="error"]')).to_have_count(0)
    shot(page, stack, "12-repair")
    # The target entity lost its unit: choose another one.
    dialog.get_by_text("Demo battery target").first.click()
    page.locator("input:focus").fill("Demo battery charge level")
    page.get_by_text("Demo battery charge level", exact=True).first.click()
    dialog.get_by_role("button", name="Submit").click()
    expect(dialog.get_by_text("The issue is repaired!")).to_be_visible()
    shot(page, stack, "13-repaired")
    page.goto(f"{stack.hass.url}/config/devices/device/{device_id}")
    expect(page.get_by_text(FIRST_TITLE).first).to_be_visible()
    for name in ("Submission status", "API connection", "Queued records", "Submit now"):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    shot(page, stack, "14-device-page")
    page.get_by_role("button", name="Press").first.click()
    records = wait_for(
        lambda: stack.sandbox.states(BROWSER_DEVICE_ID)[before:],
        what="a record after the repair",
    )
    body = records[-1]["body"]
    assert body["backup_reserve_percent"] == 20  # kept, though not changed
    # The new target is the charge level the state of charge is rendered from.
    assert (
        abs(body["target_state_of_charge_percent"] - body["state_of_charge_percent"])
        < 1
    )
