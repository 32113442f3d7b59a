"""The console's way out (pure): ``~.`` at the start of a line, as in ssh, or Ctrl-] anywhere,
as in telnet and amtterm. ``~~`` at the start of a line sends one ``~``."""

from __future__ import annotations

CTRL_RIGHT_BRACKET = 0x1D
TILDE = ord("~")
DOT = ord(".")
LINE_ENDS = frozenset((0x0D, 0x0A))
HELP = "~. at the start of a line, or Ctrl-]"


class EscapeScanner:
    """Keystrokes in; what to send and whether the user asked to leave out."""

    __slots__ = ("_line_start", "_tilde")

    def __init__(self) -> None:
        self._line_start = True
        self._tilde = False

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to send to the host, and True once the escape was typed (what follows
        it is dropped)."""
        out = bytearray()
        for byte in data:
            if byte == CTRL_RIGHT_BRACKET:
                return bytes(out), True
            if self._tilde:
                self._tilde = False
                if byte == DOT:
                    return bytes(out), True
                if byte != TILDE:
                    out.append(TILDE)  # not an escape: the held tilde goes out after all
                out.append(byte)
                self._line_start = byte in LINE_ENDS
                continue
            if self._line_start and byte == TILDE:
                self._tilde = True
                continue
            out.append(byte)
            self._line_start = byte in LINE_ENDS
        return bytes(out), False
