"""Side and status colours of both themes: WCAG 2.1 contrast on the theme's backgrounds, and left
and right still far apart for people with colour-vision deficiency (Machado et al. 2009)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from station.gui.theme import DARK, LIGHT, THEMES, side_colour, status_colour  # noqa: E402

# Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB
CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)]) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def luminance(rgb_linear: np.ndarray) -> float:
    return float(np.dot([0.2126, 0.7152, 0.0722], rgb_linear))


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(linear(a)), luminance(linear(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def lab(rgb_linear: np.ndarray) -> np.ndarray:
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ np.clip(rgb_linear, 0, 1) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_the_formulas_match_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#0072B2", "#15181c") < 3.5  # why the dark theme needs another blue


@pytest.mark.parametrize("name", list(THEMES))
def test_side_and_status_colours_meet_wcag_contrast(name: str) -> None:
    t = THEMES[name]
    for bg in (t.window, t.panel, t.plot_bg):
        for side in ("left", "right", "both"):
            # coloured text (step titles, the big peak) needs 4.5:1; curves and bars 3:1
            assert contrast(side_colour(side, t), bg) >= 4.5, (name, side, bg)
        for kind in ("ok", "bad", "warning", "info"):
            assert contrast(status_colour(kind, t), bg) >= 4.5, (name, kind, bg)
    assert contrast(t.warning_text, t.warning_bg) >= 4.5
    assert contrast(t.muted, t.window) >= 4.5 and contrast(t.text, t.window) >= 7


@pytest.mark.parametrize("name", list(THEMES))
def test_left_and_right_stay_apart_with_colour_vision_deficiency(name: str) -> None:
    t = THEMES[name]
    left, right = linear(t.left), linear(t.right)
    assert np.linalg.norm(lab(left) - lab(right)) > 40
    for kind, m in CVD.items():
        seen_l, seen_r = np.array(m) @ left, np.array(m) @ right
        assert np.linalg.norm(lab(seen_l) - lab(seen_r)) > 25, (name, kind)


def test_the_dark_theme_uses_the_okabe_ito_sky_blue_and_orange() -> None:
    assert (DARK.left, DARK.right) == ("#56B4E9", "#E69F00")
    assert LIGHT.left == "#0072B2"
