"""Overlays on a face: ground truth vs predictions, error vectors, heatmaps, covariance ellipses, Laplace scales,
and every registered decoder's points (lab.heatmaps.DECODERS: argmax, soft-argmax, local barycenter, DARK).

One implementation of the geometry, two thin renderers:

    layers = face_layers(gt, visible, {"star": pred_a, "mse": pred_b}, OverlayOptions(cov=True))
    fig = plotly_face(image_with_heat, layers)         # the app
    draw_layers(ax, layers); ax.imshow(image)          # notebooks (matplotlib)

`face_layers` turns per-face prediction dicts (the keys of lab.runner.evaluate.predict, sliced to one face: points (K, 2),
mean (K, 2), cov (K, 2, 2), laplace_scale (K, 2), argmax_points / soft_argmax_points / barycenter_points (K, 2), all
in original image pixels) into `Layer`s: named point sets or polylines (NaN rows separate polylines). Every
coordinate is (x, y) in image pixels, pixel-centre convention (DESIGN.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from lab.heatmaps import DECODERS, get_decoder

GT_COLOUR = "#2ca02c"
BOX_COLOUR = "#ffd700"
RUN_COLOURS = ("#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#e377c2", "#8c564b", "#bcbd22")
_DECODER_SYMBOLS = ("diamond", "x", "triangle", "cross")  # cycled over lab.heatmaps.DECODERS in registry order
_DECODER_DASHES = ("dot", "solid", "dash", "dashdot", "longdash")
_DECODER_MPL_LINES = ("--", ":", "-", "-.")


def _registry_index(decoder: str) -> int:
    get_decoder(decoder)  # unknown names fail with the valid ones
    return list(DECODERS).index(decoder)


def decoder_symbol(decoder: str) -> str:
    """The marker of a decoder's points in every overlay (one per registered decoder, in registry order)."""
    return _DECODER_SYMBOLS[_registry_index(decoder) % len(_DECODER_SYMBOLS)]


def decoder_dash(decoder: str) -> str:
    """The plotly dash of a decoder's curves (robustness plots)."""
    return _DECODER_DASHES[_registry_index(decoder) % len(_DECODER_DASHES)]


def decoder_line(decoder: str) -> str:
    """The matplotlib line style of a decoder's curves."""
    return _DECODER_MPL_LINES[_registry_index(decoder) % len(_DECODER_MPL_LINES)]
_PLOTLY_SYMBOLS = {"circle": "circle", "x": "x-thin", "diamond": "diamond-open", "triangle": "triangle-up-open",
                   "cross": "cross-thin"}
_MPL_MARKERS = {"circle": "o", "x": "x", "diamond": "D", "triangle": "^", "cross": "+"}


def run_colour(i: int) -> str:
    """The i-th run's colour (cycles through RUN_COLOURS; ground truth is always GT_COLOUR)."""
    return RUN_COLOURS[i % len(RUN_COLOURS)]


# --------------------------------------------------------------------------------------------------- geometry

def ellipse_axes(cov: np.ndarray, n_sigma: float = 1.0) -> tuple[float, float, float]:
    """(semi-major, semi-minor, angle of the major axis in degrees from +x towards +y) of the n-sigma ellipse of
    a 2x2 covariance. Negative eigenvalues (numerical noise) are clamped to 0."""
    cov = np.asarray(cov, dtype=np.float64)
    if cov.shape != (2, 2):
        raise ValueError(f"cov must be a 2x2 matrix, got shape {cov.shape}")
    values, vectors = np.linalg.eigh(0.5 * (cov + cov.T))  # ascending eigenvalues
    major = vectors[:, 1]
    a, b = n_sigma * np.sqrt(np.clip(values[::-1], 0.0, None))
    return float(a), float(b), float(np.degrees(np.arctan2(major[1], major[0])))


def ellipse_points(mean: np.ndarray, cov: np.ndarray, n_sigma: float = 1.0, n: int = 64) -> np.ndarray:
    """(n + 1, 2) closed polyline of {mean + v : v^T cov^-1 v = n_sigma^2}, the n-sigma contour of N(mean, cov)."""
    a, b, angle = ellipse_axes(cov, n_sigma)
    t = np.linspace(0.0, 2.0 * np.pi, n + 1)
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    local = np.stack([a * np.cos(t), b * np.sin(t)], axis=-1)
    return np.asarray(mean, dtype=np.float64) + local @ np.array([[c, s], [-s, c]])


def box_points(mean: np.ndarray, half: np.ndarray) -> np.ndarray:
    """(5, 2) closed axis-aligned rectangle mean +- half (x, y): the Laplace scale b drawn as a box of side 2b."""
    (x, y), (hx, hy) = np.asarray(mean, np.float64), np.asarray(half, np.float64)
    return np.array([[x - hx, y - hy], [x + hx, y - hy], [x + hx, y + hy], [x - hx, y + hy], [x - hx, y - hy]])


def laplace_shape(mean: np.ndarray, scale: np.ndarray, n_sigma: float = 1.0, kind: str = "box") -> np.ndarray:
    """The per-axis Laplace scale b (2,) around mean (2,) as a closed polyline: a box of half-sides n b, or the
    axis-aligned ellipse with semi-axes n b (kind "ellipse")."""
    half = n_sigma * np.asarray(scale, np.float64)
    if kind == "box":
        return box_points(mean, half)
    if kind == "ellipse":
        return ellipse_points(mean, np.diag(np.square(half)), 1.0)
    raise ValueError(f"unknown Laplace shape {kind!r}; valid: box, ellipse")


def zoom_window(points: np.ndarray, min_half: float, margin: float = 1.25) -> tuple[float, float, float]:
    """(x, y, half) of a square view framing every finite point of points (N, 2) (e.g. one landmark's ground truth
    and each run's prediction) with `margin`, at least min_half on each side of the centre."""
    xy = np.asarray(points, np.float64).reshape(-1, 2)
    xy = xy[np.all(np.isfinite(xy), axis=1)]
    if len(xy) == 0:
        raise ValueError("zoom_window needs at least one finite point")
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    centre = (lo + hi) / 2.0
    return float(centre[0]), float(centre[1]), float(max(min_half, margin * (hi - lo).max() / 2.0))


def join_polylines(lines: Sequence[np.ndarray]) -> np.ndarray:
    """(sum(n_i + 1), 2): polylines (n_i, 2) concatenated with a NaN row after each (a gap for both renderers)."""
    if not lines:
        return np.zeros((0, 2))
    gap = np.full((1, 2), np.nan)
    return np.concatenate([part for line in lines for part in (np.asarray(line, np.float64), gap)])


def error_segments(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """Segments gt -> pred (K, 2) of the visible landmarks, joined by join_polylines: (3 K_visible, 2)."""
    vis = np.ones(len(gt), bool) if visible is None else np.asarray(visible, bool)
    return join_polylines([np.stack([g, p]) for g, p, v in zip(gt, pred, vis) if v])


def heatmap_to_image_matrix(matrix: np.ndarray, stride: float) -> np.ndarray:
    """(2, 3) affine from heatmap pixels to image pixels, for a crop `matrix` (2, 3) image -> crop and a model
    stride: heatmap px -> crop px (x = (x_h + 0.5) stride - 0.5) -> image px (inverse crop)."""
    from lab.data.transforms import compose_affine, invert_affine

    to_crop = np.array([[stride, 0.0, 0.5 * stride - 0.5], [0.0, stride, 0.5 * stride - 0.5]])
    return compose_affine(to_crop, invert_affine(np.asarray(matrix, np.float64)))


def heatmap_on_image(heatmap: np.ndarray, matrix: np.ndarray, stride: float, shape: tuple[int, int]) -> np.ndarray:
    """A heatmap (h, w) of a crop resampled into the original image's frame: (H, W) float32, 0 outside the crop.

    matrix: (2, 3) image -> crop; stride: input px per heatmap px; shape: (H, W) of the image."""
    from lab.data.transforms import warp_image

    to_image = heatmap_to_image_matrix(matrix, stride)  # warp_image takes the source -> destination map
    return warp_image(np.asarray(heatmap, np.float32), to_image, (shape[1], shape[0]))


def landmark_heat(heatmaps: np.ndarray, landmark: int | None = None) -> np.ndarray:
    """(h, w) in [0, 1] to display: landmark `landmark` of heatmaps (K, h, w) scaled by its maximum, or for None
    the pixel-wise maximum over all landmarks, each scaled by its own maximum (so every landmark shows)."""
    maps = np.asarray(heatmaps, np.float64)
    if maps.ndim != 3:
        raise ValueError(f"heatmaps must be (K, h, w), got shape {maps.shape}")
    if landmark is not None:
        maps = maps[landmark : landmark + 1]
    peak = maps.reshape(len(maps), -1).max(axis=1)
    return (maps / np.maximum(peak, 1e-12)[:, None, None]).clip(0, 1).max(axis=0)


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1]: a black-red-yellow ramp of heat (H, W) in [0, 1] (red at 0.5, yellow at 1)."""
    h = np.clip(np.asarray(heat, np.float64), 0.0, 1.0)[..., None]
    return np.clip(h * 2.0 - np.array([0.0, 1.0, 2.0]), 0.0, 1.0)


def blend_heat(image: np.ndarray, heat: np.ndarray, opacity: float = 0.6) -> np.ndarray:
    """image (H, W, 3) uint8 with heat (H, W) in [0, 1] painted over it: per pixel the colour of the heat, mixed
    in with weight opacity * heat (cold pixels leave the image untouched). Returns (H, W, 3) uint8."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    img = np.asarray(image, np.float64) / 255.0
    if heat.shape != img.shape[:2]:
        raise ValueError(f"heat {heat.shape} and image {img.shape[:2]} must have the same size")
    alpha = opacity * np.clip(heat, 0.0, 1.0)[..., None]
    return np.round(255.0 * ((1.0 - alpha) * img + alpha * heat_colours(heat))).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------- layers

@dataclass
class Layer:
    """One drawable set: kind "markers" (xy (N, 2) points) or "lines" (xy polylines separated by NaN rows).

    symbol: circle | x | diamond | triangle | cross (each renderer maps it); hover: per-point text or None;
    filled: markers drawn solid (False: hollow, e.g. invisible landmarks); group: legend group (the run)."""

    name: str
    kind: str
    xy: np.ndarray
    colour: str
    symbol: str = "circle"
    size: float = 6.0
    width: float = 1.0
    dash: str = "solid"
    hover: list[str] | None = None
    group: str = ""


@dataclass
class OverlayOptions:
    """What face_layers draws. landmark: None = all landmarks, else one index. n_sigma scales the ellipses and
    Laplace boxes; names label the hover text; box draws the face box the first run cropped from."""

    gt: bool = True
    points: bool = True
    errors: bool = True
    cov: bool = False
    laplace: bool = False
    laplace_kind: str = "box"
    decoders: tuple[str, ...] = ()
    landmark: int | None = None
    n_sigma: float = 1.0
    names: Sequence[str] | None = None
    box: bool = False


def _selected(k: int, landmark: int | None) -> np.ndarray:
    return np.arange(k) if landmark is None else np.array([landmark])


def _labels(idx: np.ndarray, names: Sequence[str] | None, prefix: str) -> list[str]:
    return [f"{prefix} #{i}" + (f" {names[i]}" if names is not None and i < len(names) else "") for i in idx]


def _run_layers(name: str, pred: Mapping[str, np.ndarray], colour: str, idx: np.ndarray, gt: np.ndarray | None,
                visible: np.ndarray | None, opt: OverlayOptions) -> list[Layer]:
    layers = []
    pts = np.asarray(pred["points"], np.float64)
    if opt.errors and gt is not None:
        vis = None if visible is None else np.asarray(visible)[idx]
        layers.append(Layer(f"{name} error", "lines", error_segments(pts[idx], gt[idx], vis), colour, width=1.2,
                            group=name))
    if opt.cov and "cov" in pred:
        lines = [ellipse_points(pred["mean"][i], pred["cov"][i], opt.n_sigma) for i in idx]
        layers.append(Layer(f"{name} cov {opt.n_sigma:g}σ", "lines", join_polylines(lines), colour, dash="dot",
                            group=name))
    if opt.laplace and "laplace_scale" in pred:
        lines = [laplace_shape(pred["mean"][i], pred["laplace_scale"][i], opt.n_sigma, opt.laplace_kind) for i in idx]
        layers.append(Layer(f"{name} Laplace b", "lines", join_polylines(lines), colour, dash="dash", group=name))
    for dec in opt.decoders:
        key = f"{dec}_points"
        if key in pred:
            layers.append(Layer(f"{name} {dec}", "markers", np.asarray(pred[key])[idx], colour,
                                decoder_symbol(dec), size=8, hover=_labels(idx, opt.names, f"{name} {dec}"),
                                group=name))
    if opt.points:
        hover = _labels(idx, opt.names, name)
        if gt is not None:
            err = np.linalg.norm(pts[idx] - gt[idx], axis=-1)
            hover = [f"{h}: error {e:.2f} px" for h, e in zip(hover, err)]
        layers.append(Layer(name, "markers", pts[idx], colour, size=6, hover=hover, group=name))
    return layers


def face_layers(gt: np.ndarray | None, visible: np.ndarray | None, preds: Mapping[str, Mapping[str, np.ndarray]],
                options: OverlayOptions | None = None, colours: Mapping[str, str] | None = None) -> list[Layer]:
    """Layers for one face: ground truth gt (K, 2) (None for an unlabeled image), then per run (name -> per-face
    prediction dict) its error vectors, covariance ellipses, Laplace scales, decoder points and points."""
    opt = options or OverlayOptions()
    k = len(gt) if gt is not None else len(next(iter(preds.values()))["points"]) if preds else 0
    if opt.landmark is not None and not 0 <= opt.landmark < k:
        raise ValueError(f"landmark index {opt.landmark} out of range for K={k} points")
    idx = _selected(k, opt.landmark)
    gt_arr = None if gt is None else np.asarray(gt, np.float64)
    layers = []
    for i, (name, pred) in enumerate(preds.items()):
        colour = (colours or {}).get(name, run_colour(i))
        layers += _run_layers(name, pred, colour, idx, gt_arr, visible, opt)
    if opt.box and preds and "box" in next(iter(preds.values())):
        x0, y0, x1, y1 = np.asarray(next(iter(preds.values()))["box"], np.float64)
        layers.insert(0, Layer("face box", "lines", box_points([(x0 + x1) / 2, (y0 + y1) / 2],
                                                               [(x1 - x0) / 2, (y1 - y0) / 2]),
                               BOX_COLOUR, dash="dash", width=1.5, group="face box"))
    if opt.gt and gt_arr is not None:
        layers.append(Layer("ground truth", "markers", gt_arr[idx], GT_COLOUR, size=7,
                            hover=_labels(idx, opt.names, "GT"), group="ground truth"))
    return layers


# -------------------------------------------------------------------------------------------------- renderers

def png_data_uri(image: np.ndarray) -> str:
    """data:image/png;base64 URI of an (H, W, 3) uint8 RGB image."""
    import base64

    import cv2

    ok, png = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as PNG")
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode("ascii")


def plotly_face(image: np.ndarray, layers: Sequence[Layer], height: int = 620,
                zoom: tuple[float, float, float] | None = None):
    """Plotly figure: the image (H, W, 3) uint8 in pixel coordinates (y down) with every layer on top.

    zoom: (x, y, half_size) to frame a region (e.g. one landmark); None shows the whole image."""
    import plotly.graph_objects as go

    h, w = image.shape[:2]
    fig = go.Figure(go.Image(source=png_data_uri(image), hoverinfo="skip"))  # PNG: far smaller than a pixel array
    for layer in layers:
        xy = np.asarray(layer.xy, np.float64).reshape(-1, 2)
        common = dict(x=xy[:, 0], y=xy[:, 1], name=layer.name, legendgroup=layer.group)
        if layer.kind == "lines":
            fig.add_trace(go.Scatter(mode="lines", line=dict(color=layer.colour, width=layer.width,
                                                                dash=layer.dash), hoverinfo="skip", **common))
        else:
            fig.add_trace(go.Scatter(
                mode="markers", marker=dict(color=layer.colour, size=layer.size,
                                            symbol=_PLOTLY_SYMBOLS[layer.symbol],
                                            line=dict(width=1.5, color=layer.colour)),
                text=layer.hover, hovertemplate="%{text}<br>x %{x:.1f}, y %{y:.1f}<extra></extra>", **common))
    x_range, y_range = [-0.5, w - 0.5], [h - 0.5, -0.5]
    if zoom is not None:
        x, y, r = zoom
        x_range, y_range = [x - r, x + r], [y + r, y - r]
    fig.update_xaxes(range=x_range, showgrid=False, zeroline=False, visible=False)
    fig.update_yaxes(range=y_range, showgrid=False, zeroline=False, visible=False, scaleanchor="x")
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=10, b=0),
                      legend=dict(orientation="h", yanchor="top", y=-0.01, x=0), uirevision="face")
    return fig


def decoder_dashes() -> dict[str, str]:
    """{decoder: plotly dash} for every registered decoder (for recolour_traces)."""
    return {name: decoder_dash(name) for name in DECODERS}


def recolour_traces(fig, colours: Mapping[str, str], dashes: Mapping[str, str] | None = None):
    """Give each trace of a plotly figure whose name starts with a run name that run's colour (so the CED and
    robustness plots use the face overlay's colours), and the dash of `dashes` whose key ends its name (e.g. the
    decoder of "run + barycenter"); returns the figure."""
    for trace in fig.data:
        name = trace.name or ""
        match = max((r for r in colours if name == r or name.startswith(r + " ")), key=len, default=None)
        style = {} if match is None else {"color": colours[match]}
        dash = next((d for key, d in (dashes or {}).items() if name.endswith(key)), None)
        if dash is not None:
            style["dash"] = dash
        if style:
            trace.update(line=style)
        if "color" in style:
            trace.update(marker=dict(color=style["color"]))
    return fig


def draw_layers(ax, layers: Sequence[Layer]) -> None:
    """Matplotlib: draw the layers on an axes (call ax.imshow(image) first)."""
    for layer in layers:
        xy = np.asarray(layer.xy, np.float64).reshape(-1, 2)
        if layer.kind == "lines":
            style = {"solid": "-", "dot": ":", "dash": "--"}.get(layer.dash, "-")
            ax.plot(xy[:, 0], xy[:, 1], style, color=layer.colour, lw=layer.width, label=layer.name)
        else:
            marker = _MPL_MARKERS[layer.symbol]
            filled = layer.symbol in ("circle",)
            if marker in "oD^":  # markers with an inside: filled or hollow, outlined in the layer's colour
                colours = {"facecolors": layer.colour if filled else "none", "edgecolors": layer.colour}
            else:  # line markers (x, +) take one colour and no edge colour
                colours = {"c": layer.colour}
            ax.scatter(xy[:, 0], xy[:, 1], s=layer.size**2 / 2, marker=marker, label=layer.name, linewidths=1.0,
                       **colours)


def draw_face(ax, image: np.ndarray, gt: np.ndarray | None, visible: np.ndarray | None,
              preds: Mapping[str, Mapping[str, np.ndarray]], options: OverlayOptions | None = None,
              heat: np.ndarray | None = None, opacity: float = 0.6, legend: bool = True):
    """Matplotlib version of the app's face view: image (with heat (H, W) blended in) plus face_layers."""
    shown = blend_heat(image, heat, opacity) if heat is not None else image
    ax.imshow(shown, extent=(-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5))
    draw_layers(ax, face_layers(gt, visible, preds, options))
    ax.set_axis_off()
    if legend:
        ax.legend(fontsize=7, loc="lower left", framealpha=0.7)
    return ax
