"""Acceptance 1: resize+pad followed by its undo returns the original geometry (property tests)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breastmri.slices.geometry import SliceGeometry, resize_pad, undo_resize_pad

sides = st.integers(min_value=1, max_value=160)
sizes = st.integers(min_value=1, max_value=160)


@settings(max_examples=300, deadline=None)
@given(h=sides, w=sides, size=sizes)
def test_geometry_is_consistent_and_round_trips(h, w, size):
    g = SliceGeometry.for_shape(h, w, size)
    assert max(g.new_h, g.new_w) == size                      # longest side becomes size
    assert 1 <= g.new_h <= size and 1 <= g.new_w <= size
    for side, new in ((h, g.new_h), (w, g.new_w)):  # aspect kept: each side rounded to the nearest pixel
        assert abs(new - side * size / max(h, w)) <= 0.5 or new == 1
    assert 0 <= g.pad_top and 0 <= g.pad_left                  # symmetric padding, odd remainder at the end
    assert size - g.new_h - 2 * g.pad_top in (0, 1) and size - g.new_w - 2 * g.pad_left in (0, 1)
    assert SliceGeometry.from_row(g.as_row(), size) == g

    image = np.random.default_rng(h * 1000 + w).random((h, w)).astype(np.float32)
    square, g2 = resize_pad(image, size, order=1)
    assert g2 == g and square.shape == (size, size) and square.dtype == np.float32
    assert undo_resize_pad(square, g, order=1).shape == (h, w)  # the undo returns the original shape


@settings(max_examples=300, deadline=None)
@given(h=sides, w=sides, extra=st.integers(min_value=0, max_value=100), seed=st.integers(0, 2**16))
def test_mask_round_trip_is_exact_when_not_downsampling(h, w, extra, seed):
    """size >= max(h, w): nearest resize + undo returns the mask pixel for pixel, any real scale."""
    size = max(h, w) + extra
    mask = (np.random.default_rng(seed).random((h, w)) > 0.5).astype(np.uint8)
    square, g = resize_pad(mask, size, order=0)
    assert set(np.unique(square)) <= {0, 1}
    assert np.array_equal(undo_resize_pad(square, g, order=0), mask)


@settings(max_examples=300, deadline=None)
@given(h=st.integers(2, 160), w=st.integers(2, 160), size=st.integers(1, 159))
def test_downsampled_round_trip_moves_pixels_at_most_half_the_factor(h, w, size):
    """size < max(h, w): each recovered pixel comes from an original pixel <= ceil(r/2) away per axis."""
    # encode each pixel's own coordinates, push them through the nearest round trip
    rows = np.repeat(np.arange(h, dtype=np.int32)[:, None], w, axis=1)
    cols = np.repeat(np.arange(w, dtype=np.int32)[None, :], h, axis=0)
    sq_r, g = resize_pad(rows, size, order=0)
    sq_c, _ = resize_pad(cols, size, order=0)
    back_r, back_c = undo_resize_pad(sq_r, g, order=0), undo_resize_pad(sq_c, g, order=0)
    assert back_r.shape == (h, w)
    assert np.abs(back_r - rows).max() <= math.ceil(h / g.new_h / 2)
    assert np.abs(back_c - cols).max() <= math.ceil(w / g.new_w / 2)


@settings(max_examples=100, deadline=None)
@given(h=sides, w=sides, size=sizes)
def test_padding_is_exact_and_window_holds_the_resized_slice(h, w, size):
    image = np.random.default_rng(h + 7 * w).random((h, w)).astype(np.float32) + 1.0
    square, g = resize_pad(image, size, order=1, pad_value=-5.0)
    inside = np.zeros((size, size), bool)
    inside[g.window] = True
    assert np.all(square[~inside] == -5.0)
    assert np.all(square[inside] >= 1.0)  # linear interpolation stays inside the data range


def test_named_shapes():
    """Odd/even, portrait/landscape, square, identity."""
    for (h, w), size, expected in [
        ((512, 512), 128, (128, 128, 0, 0)),
        ((448, 512), 128, (112, 128, 8, 0)),
        ((512, 301), 128, (128, 75, 0, 26)),
        ((101, 99), 128, (128, 125, 0, 1)),
        ((128, 128), 128, (128, 128, 0, 0)),
        ((1, 9), 4, (1, 4, 1, 0)),
    ]:
        g = SliceGeometry.for_shape(h, w, size)
        assert (g.new_h, g.new_w, g.pad_top, g.pad_left) == expected, (h, w, size, g)
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    sq, g = resize_pad(img, 4)
    assert np.array_equal(undo_resize_pad(sq, g), img)  # identity resize: exact for images too


def test_anisotropic_pixels_keep_their_proportions_in_mm():
    """A sagittal exam's axial slice: 256 rows of 0.7 mm (anterior-posterior) by 60 columns of 2 mm
    (left-right) is 179 x 120 mm; it must not be squashed to 256 x 60 pixels' proportions."""
    g = SliceGeometry.for_shape(256, 60, 128, pixel_aspect=2.0 / 0.7)
    assert g.new_h == 128 and g.new_w == round(60 * 2.0 / 0.7 * 128 / 256)
    assert g.new_w / g.new_h == pytest.approx((60 * 2.0) / (256 * 0.7), abs=1 / 128)
    plain = SliceGeometry.for_shape(256, 60, 128)
    assert plain.new_w == 30  # the pixel rule would squash left-right by 2.9x
    # width-limited: wide pixels can make the width the longest side in mm
    wide = SliceGeometry.for_shape(100, 80, 64, pixel_aspect=2.0)
    assert (wide.new_h, wide.new_w) == (40, 64)
    # near-square pixels (float32 column norms of an oblique affine) take the exact integer rule
    assert SliceGeometry.for_shape(101, 99, 128, pixel_aspect=1.0 + 1e-6) == SliceGeometry.for_shape(101, 99, 128)
    with pytest.raises(ValueError, match="pixel aspect"):
        SliceGeometry.for_shape(10, 10, 8, pixel_aspect=0.0)


@settings(max_examples=200, deadline=None)
@given(h=sides, w=sides, extra=st.integers(0, 100), aspect=st.floats(0.3, 3.5), seed=st.integers(0, 2**16))
def test_anisotropic_round_trip_returns_the_shape_and_upsampled_masks_exactly(h, w, extra, aspect, seed):
    size = max(h, int(np.ceil(w * aspect)), w) + extra
    mask = (np.random.default_rng(seed).random((h, w)) > 0.5).astype(np.uint8)
    square, g = resize_pad(mask, size, order=0, pixel_aspect=aspect)
    assert square.shape == (size, size) and max(g.new_h, g.new_w) <= size
    back = undo_resize_pad(square, g, order=0)
    assert back.shape == (h, w)
    if g.new_h >= h and g.new_w >= w:  # no axis downsampled: exact
        assert np.array_equal(back, mask)
