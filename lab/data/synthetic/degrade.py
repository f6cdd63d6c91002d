"""The last step of rendering: paste the shaded face, then illumination, contrast, blur, noise and JPEG."""
from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from lab.data.synthetic.banks import _unit_grid, noise_bank
from lab.data.synthetic.params import Degradation

@lru_cache(maxsize=64)
def _gauss_kernel(sigma: float) -> np.ndarray:
    """(k, 1) float32 Gaussian kernel, k = 2 ceil(3 sigma) + 1 (sigma rounded to 0.05 by the caller)."""
    return cv2.getGaussianKernel(2 * math.ceil(3.0 * sigma) + 1, sigma).astype(np.float32)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (cv2.sepFilter2D is 2-3x faster than cv2.GaussianBlur at these sizes)."""
    k = _gauss_kernel(round(max(sigma, 0.05) * 20.0) / 20.0)
    return cv2.sepFilter2D(img, -1, k, k, borderType=cv2.BORDER_REFLECT_101)


def _finish(face: np.ndarray, canvas: np.ndarray, mask: np.ndarray, shade: np.ndarray, d: Degradation,
            size: int) -> np.ndarray:
    """Paste the shaded face layer through the mask, then illumination, contrast, blur, noise and JPEG.

    out = (canvas (1 - m) + face m shade) * gain * ramp * cast * contrast + (1 - contrast) 118 + noise.
    Per-pixel weights are built on one channel and merged (numpy broadcasting over a last axis of 3 is slow).
    """
    m = mask * np.float32(1.0 / 255.0)
    w_face = shade * m
    w_back = 1.0 - m
    g = d.gain * d.contrast
    if d.gradient > 0:
        x, y = _unit_grid(size)
        a = math.radians(d.gradient_angle)
        ramp = x * np.float32(d.gradient * math.cos(a)) + y * np.float32(d.gradient * math.sin(a)) + np.float32(1.0)
        w_face *= ramp
        w_back *= ramp
    gains = [np.float32(g * c) for c in d.cast]
    out = cv2.multiply(canvas, cv2.merge([w_back * k for k in gains]), dtype=cv2.CV_32F)
    out += cv2.multiply(face, cv2.merge([w_face * k for k in gains]), dtype=cv2.CV_32F)
    k = size / 128.0
    if d.blur * k > 0.3:
        out = gaussian_blur(out, d.blur * k)
    if d.motion * k >= 1.5:
        ln = int(round(d.motion * k)) | 1
        ker = np.zeros((ln, ln), np.float32)
        a, h = math.radians(d.motion_angle), (ln - 1) / 2.0
        cv2.line(ker, (int(round(h - h * math.cos(a))), int(round(h - h * math.sin(a)))),
                 (int(round(h + h * math.cos(a))), int(round(h + h * math.sin(a)))), 1.0, 1)
        out = cv2.filter2D(out, -1, ker / max(float(ker.sum()), 1e-6))
    if d.contrast < 1.0:
        out += np.float32((1.0 - d.contrast) * 118.0)
    if d.noise > 0:
        ox, oy = d.noise_offset[0] % size, d.noise_offset[1] % size
        out = cv2.scaleAdd(noise_bank(size)[oy:oy + size, ox:ox + size], float(d.noise), out)
    img = np.clip(out, 0.0, 255.0, out=out).astype(np.uint8)
    if d.jpeg > 0:
        ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(d.jpeg)])
        img = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
    return img

