"""Bitmap glyph -> vector outline: upsample, smooth, threshold, trace contours with holes, fit quadratic splines,
clean up with skia-pathops. The outline is pen-agnostic (a fontTools RecordingPen value in font units), replayed into
TrueType (`TTGlyphPen`), CFF (`T2CharStringPen`) or SVG (`SVGPathPen`) by the font builder.

The tracer is written here because no permissive library does the whole job: potrace (the classic) is GPL and its
Python bindings are stale, and OpenCV/scikit-image trace pixel polygons but fit no curves. The steps:

1. Level the grey values (`level`: paper 0, ink 1), upsample the (H, W) ink-high bitmap `upscale` times (bicubic),
   so the 0.5 level set is smooth rather than a staircase of pixel edges, and threshold it at `threshold`.
2. Drop specks: connected ink components smaller than `min_area` source pixels, and fill holes smaller than that.
3. Trace every boundary with OpenCV (`RETR_CCOMP`: outer boundaries, and the holes inside them), so the winding of each
   contour follows from its nesting: outer contours one way, holes the other; move each traced vertex half an
   upsampled pixel outward, from the boundary pixels' centres to the ink's edge.
4. Simplify each contour (Douglas-Peucker, `tolerance` source pixels) and fit it: vertices where the outline turns
   sharply (more than `corner_degrees`) stay on-curve corners; the others become off-curve points of a TrueType
   quadratic B-spline (on-curve points implied halfway between), which rounds the polygon into a smooth curve.
5. `pathops.simplify` removes any overlap the fit made and fixes the direction of every contour (clockwise outer
   contours for TrueType, counter-clockwise for CFF).

Coordinates: bitmap pixel (px, py) with py down maps to font units (px * scale + dx, dy - py * scale), y up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pathops
from fontTools.misc.roundTools import otRound
from fontTools.pens.recordingPen import RecordingPen
from fontTools.pens.roundingPen import RoundingPen


@dataclass(frozen=True)
class TraceOptions:
    """How bitmaps are traced. The defaults won on 120 kanji-ddpm-cond and 62 hand-cvae glyphs (round-trip IoU
    0.905 and 0.902; blur 0.5 px gave 0.82 and 0.76, blur 0.2 0.89 and 0.90; corners at 55 degrees 0.896, 40% more
    bytes): bicubic upsampling alone already smooths the staircase."""

    upscale: int = 0  # upsampling factor; 0 = enough for about 256 px across
    blur: float = 0.0  # Gaussian blur before thresholding, in source pixels
    threshold: float = 0.5  # ink level of the outline, in [0, 1]
    min_area: float = 1.5  # ink specks and holes below this many source pixels are dropped
    tolerance: float = 0.12  # Douglas-Peucker tolerance, in source pixels
    corner_degrees: float = 35.0  # a vertex turning more than this stays a sharp corner


@dataclass(frozen=True)
class Placement:
    """Affine map from bitmap pixels (y down) to font units (y up): x = px * scale + dx, y = dy - py * scale."""

    scale: float
    dx: float = 0.0
    dy: float = 0.0

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(K, 2) pixel coordinates -> (K, 2) font units."""
        return np.stack([points[:, 0] * self.scale + self.dx, self.dy - points[:, 1] * self.scale], axis=1)


def level(bitmap: np.ndarray) -> np.ndarray:
    """Stretch a glyph's grey levels so its paper is 0 and its ink 1: the paper is the median level (glyphs are
    mostly paper), the ink the 99th percentile of what is darker. A sharp glyph is left almost as it is; a soft one
    (a VAE's) no longer falls below the tracing threshold, and a model's faint haze over the paper is dropped."""
    a = np.clip(np.asarray(bitmap, dtype=np.float32), 0.0, 1.0)
    paper = float(np.median(a))
    above = a[a > paper]
    if above.size == 0:
        return np.zeros_like(a)
    ink = float(np.percentile(above, 99))
    if ink - paper < 0.1:  # no ink to speak of: a blank glyph stays blank, noise is not stretched into strokes
        return np.zeros_like(a)
    return np.clip((a - paper) / (ink - paper), 0.0, 1.0)


def binarize(bitmap: np.ndarray, options: TraceOptions = TraceOptions()) -> tuple[np.ndarray, int]:
    """(H, W) float in [0, 1] (ink high) -> (binary uint8 mask upsampled `factor` times, factor), specks removed."""
    bitmap = np.asarray(bitmap, dtype=np.float32)
    if bitmap.ndim != 2:
        raise ValueError(f"trace needs one (H, W) bitmap, got shape {bitmap.shape}")
    h, w = bitmap.shape
    factor = options.upscale or max(2, math.ceil(256 / max(h, w)))
    # a one-pixel paper border so that ink touching the edge still gives closed contours
    padded = np.pad(np.clip(bitmap, 0.0, 1.0), 1)
    big = cv2.resize(padded, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    if options.blur > 0:
        big = cv2.GaussianBlur(big, (0, 0), sigmaX=options.blur * factor)
    mask = (big > options.threshold).astype(np.uint8)
    min_pixels = options.min_area * factor * factor
    mask = _drop_small(mask, min_pixels)  # ink specks
    mask = 1 - _drop_small(1 - mask, min_pixels, keep_border=True)  # pinholes in the ink
    return mask, factor


def _drop_small(mask: np.ndarray, min_pixels: float, keep_border: bool = False) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_pixels
    keep[0] = False  # label 0 is the background of `mask`
    if keep_border:  # the paper around the glyph is never a hole to fill
        keep[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
        keep[0] = False
    return keep[labels].astype(np.uint8)


def trace(bitmap: np.ndarray, options: TraceOptions = TraceOptions()) -> list[tuple[np.ndarray, bool]]:
    """Closed contours of the ink of one bitmap: [(points (K, 2) in source pixels, is_hole)], simplified."""
    mask, factor = binarize(bitmap, options)
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    result = []
    for k, contour in enumerate(contours):
        is_hole = hierarchy[0][k][3] >= 0  # RETR_CCOMP: holes are the children of outer boundaries
        simple = cv2.approxPolyDP(contour, options.tolerance * factor, closed=True)
        if len(simple) < 3:
            continue
        points = _to_edges(simple[:, 0, :].astype(np.float64), is_hole)
        # source-pixel coordinates (pixel edges at integers): undo the upsampling and the padding border
        result.append(((points + 0.5) / factor - 1.0, is_hole))
    return result


def _to_edges(points: np.ndarray, is_hole: bool) -> np.ndarray:
    """OpenCV traces the centres of the boundary pixels, half a pixel inside the ink's edge: move every vertex half
    a pixel outward (away from the ink), along the mean of its two edges' normals, so strokes keep their width."""
    edges = np.roll(points, -1, axis=0) - points
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    vertex = normals + np.roll(normals, 1, axis=0)
    vertex /= np.maximum(np.linalg.norm(vertex, axis=1, keepdims=True), 1e-9)
    moved = points + 0.5 * vertex
    grows = abs(_signed_area(moved)) > abs(_signed_area(points))
    if grows == is_hole:  # that was inward: the ink grows when outer contours grow and holes shrink
        moved = points - 0.5 * vertex
    return moved


def _corners(points: np.ndarray, corner_degrees: float) -> np.ndarray:
    """(K,) bool: vertices where the closed polygon turns by more than `corner_degrees`."""
    incoming = points - np.roll(points, 1, axis=0)
    outgoing = np.roll(points, -1, axis=0) - points
    angle_in = np.arctan2(incoming[:, 1], incoming[:, 0])
    angle_out = np.arctan2(outgoing[:, 1], outgoing[:, 0])
    turn = np.abs((angle_out - angle_in + np.pi) % (2 * np.pi) - np.pi)
    return turn > math.radians(corner_degrees)


def _signed_area(points: np.ndarray) -> float:
    """Shoelace area of a closed polygon: positive when counter-clockwise with y up."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _draw_contour(pen, points: list[tuple[float, float]], corner: np.ndarray) -> None:
    """One closed contour: corners on-curve, the other vertices off-curve points of a quadratic B-spline."""
    if not corner.any():
        pen.qCurveTo(*points, None)  # TrueType's closed spline of off-curve points only
        return
    start = int(np.argmax(corner))
    order = [(start + i) % len(points) for i in range(1, len(points) + 1)]  # ends back at the start corner
    pen.moveTo(points[start])
    pending = []
    for i in order:
        if corner[i]:
            if pending:
                pen.qCurveTo(*pending, points[i])
            else:
                pen.lineTo(points[i])
            pending = []
        else:
            pending.append(points[i])
    pen.closePath()


def outline(
    bitmap: np.ndarray,
    placement: Placement,
    options: TraceOptions = TraceOptions(),
    clockwise: bool = True,
) -> list[tuple[str, tuple]]:
    """One bitmap -> its outline in integer font units as RecordingPen operations (empty when nothing traces).

    clockwise: direction of outer contours (True for TrueType `glyf`, False for CFF).
    """
    path = pathops.Path()
    pen = path.getPen()
    for points, is_hole in trace(bitmap, options):
        units = placement.apply(points)
        if (_signed_area(units) > 0) == is_hole:  # outer contours counter-clockwise, holes clockwise (y up)
            units = units[::-1]
        corner = _corners(units, options.corner_degrees)
        _draw_contour(pen, [tuple(p) for p in units], corner)
    if not path:  # nothing to draw; pathops cannot simplify an empty path
        return []
    path = pathops.simplify(path, fix_winding=True, keep_starting_points=False, clockwise=clockwise)
    recording = RecordingPen()
    path.draw(RoundingPen(recording, roundFunc=otRound))  # integer font units, as both outline formats store
    return recording.value


def ink_box(bitmap: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) pixel box of the ink above `threshold` (x1, y1 exclusive), or None for a blank bitmap."""
    ys, xs = np.nonzero(np.asarray(bitmap) > threshold)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
