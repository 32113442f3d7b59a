"""Helpers for comparing requests with Intel's request corpus (canonical XML, MessageID aside)."""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from tests.support import require_corpus

_MESSAGE_ID = re.compile(rb"<a:MessageID>[^<]*</a:MessageID>")


def canonical(xml: bytes) -> str:
    """C14N 2.0 with prefixes rewritten and whitespace-only text stripped; MessageID blanked."""
    blanked = _MESSAGE_ID.sub(b"<a:MessageID>X</a:MessageID>", xml)
    root = etree.fromstring(blanked)
    return str(
        etree.canonicalize(etree.tostring(root).decode(), rewrite_prefixes=True, strip_text=True)
    )


def request_file(class_name: str, operation: str, contains: str = "") -> Path:
    """The corpus request for ``class_name`` + ``operation`` (first whose name has ``contains``)."""
    corpus = require_corpus()
    folder = class_name.split("_", 1)[0].lower()
    matches = sorted((corpus / "requests" / folder).glob(f"{class_name}__{operation}__*.xml"))
    matches = [m for m in matches if contains in m.name]
    assert matches, f"no corpus request for {class_name} {operation} {contains!r}"
    return matches[0]
