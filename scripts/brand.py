"""Draw the brand images of custom_components/flatpeak/brand/.

    .venv/bin/python scripts/brand.py [--font PATH]

The mark (a battery with a pulse on a dark rounded square) is drawn from its geometry,
supersampled and reduced, so every size is sharp:

- icon.png 256x256 and icon@2x.png 512x512: the mark alone;
- logo.png (256 px high) and logo@2x.png (512 px high, exactly double): the mark and
  the word "Flatpeak" in dark ink, for a light background;
- dark_logo.png and dark_logo@2x.png: the same with light ink, for the dark theme.

Every image is trimmed (no fully transparent row or column on its edges), as
Home Assistant's brands rules ask; tests/test_brand.py checks what it wrote.
The word is set in DejaVu Sans Bold (Debian: fonts-dejavu-core); --font takes another
TrueType file.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import math
from pathlib import Path
import sys

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
BRAND = ROOT / "custom_components" / "flatpeak" / "brand"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

NAVY = (16, 24, 40, 255)
LIGHT = (240, 244, 248, 255)
GREEN = (0, 200, 150, 255)
# Drawn this many times larger than the @2x image, then reduced (area average).
SUPERSAMPLE = 4
# The mark's geometry on a 480-unit square.
UNIT = 480
SQUARE_RADIUS = 96
BODY = (80, 144, 400, 376)
BODY_RADIUS = 32
BODY_STROKE = 24
NUB = (388, 216, 428, 304)
NUB_RADIUS = 10
PULSE = [(123, 283.5), (194, 283.5), (234, 183), (282, 334), (329, 239.5), (356, 239.5)]
PULSE_STROKE = 26
# The logo: the gap between mark and word, and the word's cap height, per mark height.
GAP = 0.16
CAP_HEIGHT = 0.40
WORD = "Flatpeak"


def draw_mark(draw: ImageDraw.ImageDraw, left: float, top: float, size: float) -> None:
    """Draw the mark as a square of ``size`` pixels at (left, top)."""
    scale = size / UNIT

    def box(rect: Sequence[float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = rect
        return (
            left + x0 * scale,
            top + y0 * scale,
            left + x1 * scale - 1,
            top + y1 * scale - 1,
        )

    draw.rounded_rectangle(
        box((0, 0, UNIT, UNIT)), radius=SQUARE_RADIUS * scale, fill=NAVY
    )
    draw.rounded_rectangle(box(NUB), radius=NUB_RADIUS * scale, fill=LIGHT)
    draw.rounded_rectangle(
        box(BODY),
        radius=BODY_RADIUS * scale,
        outline=LIGHT,
        width=round(BODY_STROKE * scale),
        fill=NAVY,
    )
    points = [(left + x * scale, top + y * scale) for x, y in PULSE]
    width = PULSE_STROKE * scale
    draw.line(points, fill=GREEN, width=round(width), joint="curve")
    for x, y in (points[0], points[-1]):
        r = width / 2
        draw.ellipse((x - r, y - r, x + r, y + r), fill=GREEN)


def reduce(image: Image.Image, factor: int) -> Image.Image:
    """Shrink by an integer factor, averaging with premultiplied alpha (no dark fringe)."""
    return image.convert("RGBa").reduce(factor).convert("RGBA")


def icon() -> Image.Image:
    """The mark alone, drawn at 512 px (@2x) times SUPERSAMPLE."""
    big = Image.new("RGBA", (512 * SUPERSAMPLE,) * 2, (0, 0, 0, 0))
    draw_mark(ImageDraw.Draw(big), 0, 0, big.height)
    return big


def logo(ink: tuple[int, int, int, int], font_path: Path) -> Image.Image:
    """The mark and the word, drawn 512 px (@2x) high times SUPERSAMPLE."""
    h = 512 * SUPERSAMPLE
    # Size the font so that its capital letters are CAP_HEIGHT of the mark.
    probe = ImageFont.truetype(str(font_path), 1000)
    cap_top, cap_bottom = probe.getbbox("F", anchor="ls")[1::2]
    font = ImageFont.truetype(
        str(font_path), round(1000 * CAP_HEIGHT * h / (cap_bottom - cap_top))
    )
    text_left = h + GAP * h
    # Baseline so that the capitals sit in the middle of the mark.
    baseline = (h + CAP_HEIGHT * h) / 2
    ink_right = font.getbbox(WORD, anchor="ls")[2] + text_left
    # Trimmed on the right to a width that the 1x reduction divides too, so that
    # @2x is exactly double the 1x image.
    step = 2 * SUPERSAMPLE
    big = Image.new("RGBA", (math.ceil(ink_right / step) * step, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    draw_mark(draw, 0, 0, h)
    draw.text((text_left, baseline), WORD, font=font, fill=ink, anchor="ls")
    return big


def images(font_path: Path) -> dict[str, Image.Image]:
    """Every brand image, by file name: each drawn once, reduced to 1x and @2x."""
    drawn = {
        "icon": icon(),
        "logo": logo(NAVY, font_path),
        "dark_logo": logo(LIGHT, font_path),
    }
    found: dict[str, Image.Image] = {}
    for name, big in drawn.items():
        found[f"{name}.png"] = reduce(big, 2 * SUPERSAMPLE)
        found[f"{name}@2x.png"] = reduce(big, SUPERSAMPLE)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Write the brand images."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--font", type=Path, default=FONT, help="a TrueType font")
    parser.add_argument("--out", type=Path, default=BRAND, help="the brand folder")
    args = parser.parse_args(argv)
    if not args.font.is_file():
        print(
            f"brand.py: no font at {args.font} (apt-get install fonts-dejavu-core,"
            " or give --font)",
            file=sys.stderr,
        )
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name, image in images(args.font).items():
        image.save(args.out / name, optimize=True)
        print(f"{name}: {image.width}x{image.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
