"""The brand images follow Home Assistant's brands rules, and scripts/brand.py draws them.

The rules (home-assistant/brands, README, "Image specification"): PNG; an icon
256x256 (512x512 @2x); a logo, landscape preferred, whose shortest side is 128-256 px
(256-512 @2x); every image trimmed, with transparency preferred.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from homeassistant.components.brands.const import ALLOWED_IMAGES
from PIL import Image, ImageChops, ImageStat
import pytest

ROOT = Path(__file__).resolve().parent.parent
BRAND = ROOT / "custom_components" / "flatpeak" / "brand"
LOGOS = ["logo.png", "dark_logo.png"]


def load_brand_script() -> ModuleType:
    """Import scripts/brand.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location(
        "brand", ROOT / "scripts" / "brand.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def image(name: str) -> Image.Image:
    found = Image.open(BRAND / name)
    found.load()
    return found


def hidpi(name: str) -> str:
    return name.replace(".png", "@2x.png")


def test_the_folder_holds_the_images_home_assistant_serves() -> None:
    names = {path.name for path in BRAND.iterdir()}
    assert names <= ALLOWED_IMAGES
    assert names == {
        "icon.png",
        "icon@2x.png",
        "logo.png",
        "logo@2x.png",
        "dark_logo.png",
        "dark_logo@2x.png",
    }


@pytest.mark.parametrize("name", sorted(p.name for p in BRAND.glob("*.png")))
def test_every_image_is_a_trimmed_png_with_transparency(name: str) -> None:
    found = image(name)
    assert found.format == "PNG"
    assert found.mode == "RGBA"
    alpha = found.getchannel("A")
    # Trimmed: every edge row and column has a pixel that is not fully transparent.
    assert alpha.getbbox() == (0, 0, found.width, found.height)
    # Transparency where the mark's rounded corners are.
    assert alpha.getpixel((0, 0)) == 0


def test_the_icons_are_square_256_and_512() -> None:
    assert image("icon.png").size == (256, 256)
    assert image("icon@2x.png").size == (512, 512)


@pytest.mark.parametrize("name", LOGOS)
def test_a_logo_is_landscape_with_the_shortest_side_the_rules_ask(name: str) -> None:
    logo, logo_2x = image(name), image(hidpi(name))
    assert logo.width > 2 * logo.height
    assert 128 <= min(logo.size) <= 256
    assert 256 <= min(logo_2x.size) <= 512
    assert logo_2x.size == (2 * logo.width, 2 * logo.height)
    assert image("logo.png").size == logo.size


@pytest.mark.parametrize("name", LOGOS)
def test_a_logo_is_the_icon_s_mark_and_the_word(name: str) -> None:
    logo, icon = image(name), image("icon.png")
    assert (BRAND / name).read_bytes() != (BRAND / "icon.png").read_bytes()
    # The left square is the icon...
    mark = logo.crop((0, 0, icon.width, icon.height))
    assert max(high for _, high in ImageChops.difference(mark, icon).getextrema()) <= 2
    # ...and to its right there is ink: the word.
    word = logo.crop((icon.width, 0, logo.width, logo.height))
    assert word.getchannel("A").getbbox() is not None
    coverage = sum(word.getchannel("A").histogram()[129:])
    assert coverage > 0.1 * word.width * word.height


def test_the_dark_logo_has_light_ink_and_the_logo_dark_ink() -> None:
    def word_luminance(name: str) -> float:
        logo = image(name)
        word = logo.crop((logo.height * 5 // 4, 0, logo.width, logo.height))
        inked = word.getchannel("A").point(lambda a: 255 if a > 200 else 0)
        return float(sum(ImageStat.Stat(word.convert("RGB"), mask=inked).mean) / 3)

    assert word_luminance("logo.png") < 64
    assert word_luminance("dark_logo.png") > 192


def test_the_script_draws_the_committed_images() -> None:
    brand = load_brand_script()
    if not brand.FONT.is_file():
        pytest.skip(f"no {brand.FONT} (fonts-dejavu-core) to draw the word with")
    for name, drawn in brand.images(brand.FONT).items():
        committed = image(name)
        assert drawn.size == committed.size, name
        assert (
            ImageChops.difference(drawn, committed).getbbox(alpha_only=False) is None
        ), name
