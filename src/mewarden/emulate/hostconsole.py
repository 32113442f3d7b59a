"""The emulated host's text console: what its serial port sends and its screen shows (pure).

One model serves both views, so Serial-over-LAN and KVM agree: the host *writes* text (boot
lines, the login prompt, the echo of what was typed); SOL streams the written bytes from an
offset (:meth:`HostConsole.read_from`), the KVM framebuffer draws the last lines
(:meth:`HostConsole.screen`) and redraws when :attr:`HostConsole.version` moves.

It stays list-like for older callers: ``len()``, indexing, slicing and iteration give lines, and
:meth:`HostConsole.append` starts a new line with the given text (as the list's append did).
Memory is bounded: ``history`` lines and ``keep_bytes`` of stream are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import overload

HISTORY_LINES = 1000
KEEP_BYTES = 64 * 1024
ERASE = ("\b", "\x7f")


class HostConsole:
    """Scrollback lines plus the byte stream that produced them."""

    __slots__ = ("_base", "_history", "_keep", "_lines", "_stream", "version")

    def __init__(self, *, history: int = HISTORY_LINES, keep_bytes: int = KEEP_BYTES) -> None:
        self._lines: list[str] = [""]
        self._stream = bytearray()
        self._base = 0
        """Stream offset of ``_stream[0]`` (older bytes were dropped)."""
        self._history = history
        self._keep = keep_bytes
        self.version = 0

    # --- the host writes ----------------------------------------------------------------------

    def write(self, text: str) -> None:
        """Host output: ``\\n`` starts a line, ``\\r`` is ignored, backspace erases a character."""
        if not text:
            return
        self._stream += text.encode("utf-8")
        if len(self._stream) > self._keep:
            drop = len(self._stream) - self._keep
            del self._stream[:drop]
            self._base += drop
        lines = self._lines
        for char in text:
            if char == "\n":
                lines.append("")
            elif char in ERASE:
                lines[-1] = lines[-1][:-1]
            elif char >= " " or char == "\t":
                lines[-1] += char
        if len(lines) > self._history:
            del lines[: len(lines) - self._history]
        self.version += 1

    def append(self, line: str) -> None:
        """A new line holding ``line`` (the cursor stays at its end, as after a prompt)."""
        self.write("\r\n" + line)

    # --- the readers --------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """Stream offset after the last byte written."""
        return self._base + len(self._stream)

    def read_from(self, offset: int, limit: int = KEEP_BYTES) -> tuple[bytes, int]:
        """Bytes written since ``offset`` (at most ``limit``) and the offset after them; a
        reader that fell behind the kept bytes resumes at the oldest one kept."""
        start = max(offset, self._base) - self._base
        data = bytes(self._stream[start : start + limit])
        return data, self._base + start + len(data)

    def tail_offset(self, lines: int) -> int:
        """Stream offset where the last ``lines`` lines begin (at their line break), so a
        reader starting there sees them whole."""
        stream = self._stream
        cut = len(stream)
        for _ in range(lines):
            found = stream.rfind(b"\n", 0, cut)
            if found < 0:
                return self._base
            cut = found
        if cut > 0 and stream[cut - 1] == 0x0D:
            cut -= 1
        return self._base + cut

    def lines(self) -> list[str]:
        """Every kept line, the current (unfinished) one last."""
        return list(self._lines)

    def screen(self, rows: int = 25, columns: int = 80) -> list[str]:
        """The visible screen: the last ``rows`` lines, each cut to ``columns``."""
        return [line[:columns] for line in self._lines[-rows:]]

    # --- list-like ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._lines)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._lines))

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        return self._lines[index]
