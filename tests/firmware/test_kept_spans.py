"""The merged-span overlap test answers exactly what me_cleaner's scan of every kept chunk does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mewarden.firmware.neutralize_gen2 import KeptSpans

points = st.integers(min_value=0, max_value=64)
spans = st.tuples(points, points)


def _me_cleaner_keeps(chunk: tuple[int, int], kept: list[tuple[int, int]]) -> bool:
    start, end = chunk
    return any(k0 <= start < k1 or k0 < end <= k1 for k0, k1 in kept)


@settings(max_examples=500)
@given(kept=st.lists(spans, max_size=12), chunks=st.lists(spans, min_size=1, max_size=12))
def test_same_answer_as_scanning_every_kept_chunk(
    kept: list[tuple[int, int]], chunks: list[tuple[int, int]]
) -> None:
    merged = KeptSpans(kept)
    for chunk in chunks:
        assert merged.overlaps(chunk) is _me_cleaner_keeps(chunk, kept)
