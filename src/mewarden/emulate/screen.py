"""The emulated host's screen: its text console drawn into an RGB framebuffer for KVM.

The text is the host console SOL streams (:class:`~mewarden.emulate.hostconsole.HostConsole`),
so both views agree. While user consent is pending (``OptInState.DISPLAYED``) the 6-digit code
is drawn in a banner over the top rows, as AMT draws it on the managed screen.

Glyphs come from Pillow's built-in bitmap font, drawn once per character into 8x16 cells; every
colour uses only 0 or 255 per channel, so AMT's 16-bit (RGB565) and 8-bit (RGB332) formats carry
the framebuffer exactly and a viewer's capture can be compared pixel for pixel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from mewarden.emulate.model import DeviceState
    from mewarden.rfb.pixels import Rgb

WIDTH, HEIGHT = 1024, 768
#: The screen while the host is off or still in its BIOS (the OS sets 1024x768 when it is up);
#: a viewer that takes DesktopSize follows the change.
BOOT_WIDTH, BOOT_HEIGHT = 640, 480
CELL_W, CELL_H = 8, 16
FOREGROUND = (255, 255, 255)
BACKGROUND = (0, 0, 0)
BANNER_FG = (255, 255, 0)
BANNER_BG = (0, 0, 255)
BANNER_ROWS = 3


@functools.cache
def _glyph(char: str) -> npt.NDArray[np.bool_]:
    """A CELL_H x CELL_W mask of ``char`` (Pillow's default bitmap font, 6x11 glyphs)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("1", (CELL_W, CELL_H), 0)
    ImageDraw.Draw(image).text((1, 2), char, fill=1, font=ImageFont.load_default_imagefont())
    return np.array(image, dtype=bool)


@dataclass(frozen=True, slots=True)
class _Key:
    version: int
    lines: tuple[str, ...]
    code: str | None
    size: tuple[int, int]


class Screen:
    """Renders (and caches) one device's framebuffer; a new array only when the text changed."""

    def __init__(self) -> None:
        self._key: _Key | None = None
        self._frame: Rgb | None = None

    def frame(self, state: DeviceState) -> Rgb:
        """The current framebuffer (the same object until something on screen changes):
        1024x768 while the host OS runs, 640x480 while it is off (black) or booting."""
        from mewarden.emulate.values import OptInState

        width, height = (
            (WIDTH, HEIGHT) if state.powered and state.host_up else (BOOT_WIDTH, BOOT_HEIGHT)
        )
        code = state.opt_in_code if state.opt_in_state is OptInState.DISPLAYED else None
        lines = (
            tuple(state.console.screen(height // CELL_H, width // CELL_W)) if state.powered else ()
        )
        key = _Key(version=state.console.version, lines=lines, code=code, size=(width, height))
        if self._frame is None or key != self._key:
            self._frame = render(lines, code=code, width=width, height=height)
            self._key = key
        return self._frame


def render(lines: tuple[str, ...] | list[str], *, code: str | None, width: int, height: int) -> Rgb:
    """Draw ``lines`` (top to bottom) and, when ``code`` is set, the consent banner."""
    import numpy as np

    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[:, :] = BACKGROUND
    for row, line in enumerate(lines[: height // CELL_H]):
        _draw_text(frame, row, 0, line, FOREGROUND)
    if code is not None:
        frame[: BANNER_ROWS * CELL_H, :] = BANNER_BG
        text = f"Intel(R) AMT: remote session requested. User consent code: {code}"
        _draw_text(frame, 1, max(0, (width // CELL_W - len(text)) // 2), text, BANNER_FG)
    return frame


def _draw_text(frame: Rgb, row: int, column: int, text: str, colour: tuple[int, int, int]) -> None:
    top = row * CELL_H
    max_columns = frame.shape[1] // CELL_W
    for offset, char in enumerate(text[: max(0, max_columns - column)]):
        if char == " ":
            continue
        left = (column + offset) * CELL_W
        cell = frame[top : top + CELL_H, left : left + CELL_W]
        cell[_glyph(char if char.isprintable() else "?")] = colour
