"""Bar charts as data for inline SVG (rendered by the templates: no script, no CDN)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

BAR_WIDTH = 320


@dataclass(frozen=True, slots=True, kw_only=True)
class Bar:
    label: str
    count: int
    width: int
    y: int


def bars(counts: Mapping[str, int], *, row: int = 26) -> list[Bar]:
    """One bar per label, widths proportional to the largest count."""
    top = max(counts.values(), default=0) or 1
    return [
        Bar(
            label=str(label),
            count=n,
            width=max(1, round(BAR_WIDTH * n / top)) if n else 0,
            y=i * row,
        )
        for i, (label, n) in enumerate(sorted(counts.items()))
    ]
