"""The merged-span overlap test answers what me_cleaner's scan of every kept chunk does, and
merged fills cover the same bytes as the fills one by one."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from mewarden.firmware.neutralize_gen2 import KeptSpans, merged_fills

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


fills = st.lists(st.tuples(points, points).map(lambda t: (min(t), max(t))), max_size=20)


@settings(max_examples=300)
@given(fills=fills)
def test_merged_fills_cover_the_same_bytes(fills: list[tuple[int, int]]) -> None:
    one_by_one, merged = bytearray(70), bytearray(70)
    for start, end in fills:
        one_by_one[start:end] = b"\xff" * (end - start)
    ranges = merged_fills(tuple(fills))
    for start, end in ranges:
        merged[start:end] = b"\xff" * (end - start)
    assert merged == one_by_one
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))  # disjoint, apart
