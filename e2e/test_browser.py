"""A user adds Flatpeak in the browser: Debian's Chromium driven by Playwright."""

from collections.abc import Iterator
from pathlib import Path
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

    expect(dialog.get_by_text("Battery entities")).to_be_visible()
    pick_entity(page, "Demo battery state", "Demo battery state of charge")
    pick_entity(page, "Demo battery target", "Demo battery target")
    pick_entity(page, "Demo battery power", "Demo battery power")
    pick_entity(page, "Demo battery energy", "Demo battery energy remaining")
    reserve = dialog.get_by_role("spinbutton", name="Fixed backup reserve")
    reserve.click()
    reserve.press_sequentially("20")
    expect(reserve).to_have_value("20")
    shot(page, stack, "3-battery")
    dialog.get_by_role("button", name="Submit").click()
    expect(
        dialog.get_by_text("Name and assign").or_(dialog.get_by_text("Success"))
    ).to_be_visible()
    shot(page, stack, "4-created")
    dialog.get_by_role("button", name="Skip and finish").or_(
        dialog.get_by_role("button", name="Finish")
    ).click()

    status = "sensor.sandbox_energy_sandbox_battery_10_battery_0002_submission_status"
    device_id = stack.api(
        "POST", "/api/template", {"template": f"{{{{ device_id('{status}') }}}}"}
    )
    assert isinstance(device_id, str)
    assert len(device_id) > 10
    page.goto(f"{stack.hass.url}/config/devices/device/{device_id}")
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
    shot(page, stack, "5-device")
    page.close()
