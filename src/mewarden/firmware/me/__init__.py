"""Parsers for the Intel ME region: ``$FPT``, ``$MN2`` manifests, ``$MME``/``$CPD`` modules, IFWI.

All parsers are pure (bytes in, frozen dataclasses out) and expose raw offsets so that a cleaner
(``mewarden.firmware.neutralize*``) can act on them. Malformed input raises
:class:`mewarden.errors.FirmwareFormatError`, never ``struct.error`` or ``IndexError``.
"""
