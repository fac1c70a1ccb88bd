"""A user adds Flatpeak in the browser (mapping the battery by picking its device), reconfigures it and fixes a repair: Debian's Chromium via Playwright."""

from collections.abc import Iterator
from pathlib import Path
import re
import shutil

from playwright.sync_api import Browser, Page, expect, sync_playwright
import pytest

from flatpeak_sandbox import DEFAULT_ACCOUNT_ID, DEFAULT_SECRET_KEY

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
TITLE = "Sandbox Energy Sandbox Battery 10 (battery-0002)"
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


def test_add_flatpeak_in_the_browser(stack: Stack, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(20_000)
    page.goto(stack.hass.url)
    page.get_by_role("textbox", name="Username").fill(stack.owner.username)
    page.get_by_role("textbox", name="Password").fill(stack.owner.password)
    shot(page, stack, "1-login")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/home/**")

    page.goto(f"{stack.hass.url}/config/integrations/dashboard")
    page.get_by_role("button", name="Add integration").click()
    page.get_by_placeholder("Search for a brand name").fill("Flatpeak")
    page.get_by_text("Flatpeak", exact=True).first.click()
    dialog = page.locator("dialog-data-entry-flow")
    expect(dialog.get_by_text("Connect to Flatpeak")).to_be_visible()
    dialog.get_by_role("textbox", name="Account ID").fill(DEFAULT_ACCOUNT_ID)
    dialog.get_by_role("textbox", name="Secret key").fill(DEFAULT_SECRET_KEY)
    dialog.get_by_role("textbox", name="Flatpeak device ID").fill(BROWSER_DEVICE_ID)
    dialog.get_by_text("Advanced options").click()
    dialog.get_by_role("textbox", name="API URL").fill(stack.sandbox.url)
    shot(page, stack, "2-credentials")
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

    device_id = stack.api(
        "POST",
        "/api/template",
        {
            "template": "{{ integration_entities('flatpeak') | map('device_id')"
            f" | select('is_device_attr', 'serial_number', '{BROWSER_DEVICE_ID}')"
            " | first }}"
        },
    )
    assert isinstance(device_id, str)
    assert len(device_id) > 10
    page.goto(f"{stack.hass.url}/config/devices/device/{device_id}")
    expect(page.get_by_text("Flatpeak battery").first).to_be_visible()
    for name in ("Submission status", "API connection", "Queued records", "Submit now"):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    page.get_by_role("button", name="Press").first.click()
    records = wait_for(
        lambda: stack.sandbox.states(BROWSER_DEVICE_ID),
        what="a record for the new device",
    )
    body = records[0]["body"]
    assert body["backup_reserve_percent"] == 20
    assert body["target_state_of_charge_percent"] == 80
    assert "state_of_charge_percent" in body
    # Power and energy remaining came with the device.
    assert "battery_power_kw" in body
    assert "energy_remaining_kwh" in body
    shot(page, stack, "5-device")

    reconfigure(page, stack)
    repair_the_mapping(page, stack, device_id)
    entry_id = stack.api(
        "POST",
        "/api/template",
        {"template": "{{ config_entry_id('button.flatpeak_battery_submit_now') }}"},
    )
    page.close()
    # Leave the shared Home Assistant as test_rest expects it: no entry yet.
    stack.api("DELETE", f"/api/config/config_entries/entry/{entry_id}")


def reconfigure(page: Page, stack: Stack) -> None:
    """Reconfigure the entry: the form is pre-filled; an empty secret keeps it."""
    page.goto(f"{stack.hass.url}/config/integrations/integration/flatpeak")
    page.get_by_text(TITLE).first.wait_for()
    # The page's own menu comes first, then the entry's.
    page.get_by_role("button", name="Menu").nth(1).click()
    page.get_by_text("Reconfigure", exact=True).click()
    dialog = page.locator("dialog-data-entry-flow")
    expect(dialog.get_by_text("Reconfigure Flatpeak")).to_be_visible()
    expect(
        dialog.get_by_text("The entry stays with its Flatpeak device")
    ).to_be_visible()
    expect(
        dialog.get_by_text("Leave empty to keep the stored secret key.")
    ).to_be_visible()
    account = dialog.get_by_role("textbox", name="Account ID")
    expect(account).to_have_value(DEFAULT_ACCOUNT_ID)
    expect(dialog.get_by_role("textbox", name="Secret key")).to_have_value("")
    shot(page, stack, "6-reconfigure")
    dialog.get_by_role("button", name="Submit").click()
    expect(
        dialog.get_by_text(re.compile("Re-?configuration was successful"))
    ).to_be_visible()
    shot(page, stack, "7-reconfigured")
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
    issue = page.get_by_text("The Flatpeak battery mapping of", exact=False).first
    issue.click()
    dialog = page.locator("dialog-repairs-issue, dialog-data-entry-flow").last
    expect(dialog.get_by_text("Fix the battery mapping")).to_be_visible()
    # The same choice of source; the entities form is pre-filled, without error.
    dialog.get_by_text("Choose the entities", exact=True).click()
    expect(dialog.get_by_text("State of charge", exact=True).first).to_be_visible()
    expect(dialog.get_by_role("spinbutton", name="Fixed backup reserve")).to_have_value(
        "20"
    )
    expect(dialog.locator('ha-alert[alert-type="error"]')).to_have_count(0)
    shot(page, stack, "8-repair")
    # The target entity lost its unit: choose another one.
    dialog.get_by_text("Demo battery target").first.click()
    page.locator("input:focus").fill("Demo battery charge level")
    page.get_by_text("Demo battery charge level", exact=True).first.click()
    dialog.get_by_role("button", name="Submit").click()
    expect(dialog.get_by_text("The issue is repaired!")).to_be_visible()
    shot(page, stack, "9-repaired")
    page.goto(f"{stack.hass.url}/config/devices/device/{device_id}")
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
