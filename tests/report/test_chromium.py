"""Look at the report in a real browser: headless Chromium renders report.html at laptop and
phone width without any network, and the screenshots show the pictures (coloured pixels of the
health strip and the plots), not a blank or broken page. Skipped without chromium; the same
rendering is `scripts/render_report_check.sh OUT_DIR report.html` for a person to look at."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import ROOT

BROWSER = next(
    (b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="chromium not installed (Debian: apt-get install -y chromium)"
)


def _colours(png) -> dict[tuple[int, int, int], int]:
    from PIL import Image

    with Image.open(png) as im:
        rgb = im.convert("RGB")
        rgb.thumbnail((rgb.width // 4, rgb.height // 4))
        return {c: n for n, c in rgb.getcolors(rgb.width * rgb.height)}


def _near(counts, target, tol=40) -> int:
    return sum(
        n
        for c, n in counts.items()
        if all(abs(a - b) <= tol for a, b in zip(c, target, strict=True))
    )


def test_the_report_renders_with_its_pictures(examples, tmp_path):
    pytest.importorskip("PIL", reason="Pillow is needed to read the screenshots")
    out = tmp_path / "png"
    report = examples / "dns-race" / "report.html"
    done = subprocess.run(
        ["sh", str(ROOT / "scripts" / "render_report_check.sh"), str(out), str(report)],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "LAPTOP_HEIGHT": "3000",
            "PHONE_HEIGHT": "3000",
        },
    )
    assert done.returncode == 0, done.stderr
    for label in ("laptop", "phone"):
        png = out / f"dns-race-{label}.png"
        counts = _colours(png)
        total = sum(counts.values())
        white = _near(counts, (255, 255, 255), 8)
        assert white < 0.97 * total, f"{label}: the page is blank"
        # the health strip's red (down) and green (ok) are on the first screen
        assert _near(counts, (200, 55, 45)) > 30, f"{label}: no red health bar visible"
        assert _near(counts, (58, 154, 79)) > 30, f"{label}: no green health bar visible"
