"""Number labels beside the points they name, placed apart (px): each label the nearest
free place on rings around its point, clear of every label placed before it and of every
point's marker and inside the drawing's area (a triangle, a plot's rectangle); a label
with no free place is left off (its marker's hover still names it). The interactive maps,
the profile along a quaternary's fourth element and the static maps share it."""

from __future__ import annotations

import numpy as np

#: A number label's width per digit and its height (px) at the maps' 11 px font, with the
#: label's padding: 6.1 px a digit, 15 px high as Chromium draws them, rounded up.
DIGIT_PX, LABEL_PX, PAD_PX = 6.5, 16.0, 3.0
#: The radius (px) a known alloy's marker covers (11 px across, its 1.5 px outline).
MARKER_PX = 6.5
#: Distances (px) from its point at which a label is tried, nearest first, and the
#: directions, upper right first (screen y grows downwards).
RINGS_PX = (13, 18, 24, 31, 39, 48, 58, 70, 84, 100, 118)
ANGLES = np.deg2rad([45, 135, -45, -135, 90, -90, 0, 180, 22.5, 157.5, -22.5, -157.5,
                     67.5, 112.5, -67.5, -112.5])
#: The least space (px) between two labels.
GAP_PX = 2.0


def label_sizes(labels, digit_px: float = DIGIT_PX, height_px: float = LABEL_PX
                ) -> np.ndarray:
    """Each label's box (width, height px) for its number of characters."""
    return np.array([[len(str(t)) * digit_px + PAD_PX, height_px] for t in labels], float)


def _candidates() -> np.ndarray:
    """The offsets (px) tried, nearest ring first, in :data:`ANGLES`' order on each."""
    return np.array([(r * np.cos(t), -r * np.sin(t)) for r in RINGS_PX for t in ANGLES])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2-D cross product of the last axes of ``a`` and ``b``."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inside(corners: np.ndarray, area: np.ndarray | None) -> np.ndarray:
    """Whether every corner (``(k, 4, 2)`` px) lies inside the convex polygon ``area``
    (vertices in order, px); all, without one."""
    if area is None:
        return np.ones(len(corners), dtype=bool)
    ok = np.ones(len(corners), dtype=bool)
    turn = np.sign(_cross(area[1] - area[0], area[2] - area[0]))
    for p, q in zip(area, np.roll(area, -1, axis=0), strict=True):
        side = _cross(q - p, corners - p) * turn  # (k, 4): >= 0 on the inner side
        ok &= (side >= 0).all(axis=1)
    return ok


def place_labels(xy: np.ndarray, sizes: np.ndarray, area: np.ndarray | None = None,
                 marker_px: float = MARKER_PX) -> np.ndarray:
    """Label offsets (px, screen y down) from points ``xy`` (px) to their labels' centres,
    greedy in order (the first labels get the nearest places): the first of
    :func:`_candidates` whose box (``sizes``: width, height px) keeps :data:`GAP_PX` from
    every label placed so far, clears every point's marker (radius ``marker_px``) and lies
    inside ``area`` (a convex polygon, px); NaN for a label with no such place."""
    cand = _candidates()
    boxes = np.empty((0, 4))
    out = np.full((len(xy), 2), np.nan)
    for i, ((x, y), (w, h)) in enumerate(zip(xy, sizes, strict=True)):
        c = np.array([x, y]) + cand
        lo, hi = c - [w / 2, h / 2], c + [w / 2, h / 2]
        free = ~((np.minimum(hi[:, None, 0], boxes[None, :, 2])
                  - np.maximum(lo[:, None, 0], boxes[None, :, 0]) > -GAP_PX)
                 & (np.minimum(hi[:, None, 1], boxes[None, :, 3])
                    - np.maximum(lo[:, None, 1], boxes[None, :, 1]) > -GAP_PX)).any(1)
        free &= ~((np.abs(c[:, None, 0] - xy[None, :, 0]) < w / 2 + marker_px)
                  & (np.abs(c[:, None, 1] - xy[None, :, 1]) < h / 2 + marker_px)).any(1)
        corners = np.stack([lo, np.column_stack([hi[:, 0], lo[:, 1]]), hi,
                            np.column_stack([lo[:, 0], hi[:, 1]])], axis=1)
        free &= _inside(corners, area)
        if free.any():
            k = int(np.argmax(free))
            out[i] = cand[k]
            boxes = np.vstack([boxes, [*lo[k], *hi[k]]])
    return out
