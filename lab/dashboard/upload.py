"""Uploaded images, checked before they are decoded: the byte size, the format and the pixel count the header
declares (a small file can declare a huge image); large images are downscaled for display and prediction."""
from __future__ import annotations

import struct

import numpy as np

from lab.runner.inspect import InputError

MAX_UPLOAD_BYTES = 20 * 2**20  # 20 MiB
MAX_UPLOAD_PIXELS = 50_000_000  # decoded size limit (a small file can declare a huge image)
MAX_SIDE = 1600  # larger images are downscaled for display and prediction


def image_size_from_header(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) read from a PNG, JPEG or BMP header without decoding the pixels.

    Raises InputError for any other content (text, PDF, GIF, ...) or a truncated header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise InputError("PNG file without a valid header (truncated or corrupt)")
        w, h = struct.unpack(">II", data[16:24])
        return "PNG", w, h
    if data[:2] == b"BM":
        if len(data) < 26:
            raise InputError("BMP file without a valid header (truncated)")
        w, h = struct.unpack("<ii", data[18:26])
        return "BMP", abs(w), abs(h)
    if data[:2] == b"\xff\xd8":
        return ("JPEG", *_jpeg_size(data))
    raise InputError("not an image: the file is not a PNG, JPEG or BMP (its first bytes are "
                     f"{data[:8]!r}); upload a photo of a face")


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame segment."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise InputError("JPEG file with a corrupt header (expected a marker)")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _SOF:
            if i + 9 > len(data):
                break
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    raise InputError("JPEG file without a frame header (truncated or corrupt)")


def load_upload(data: bytes, name: str = "upload", max_bytes: int = MAX_UPLOAD_BYTES,
                max_pixels: int = MAX_UPLOAD_PIXELS, max_side: int = MAX_SIDE) -> tuple[np.ndarray, str]:
    """Decode an uploaded image safely: (image (H, W, 3) uint8 RGB, a note ("" or how it was resized)).

    Checks, before decoding, the byte size (<= max_bytes) and the pixel count the header declares
    (<= max_pixels); images larger than max_side on a side are downscaled (the note says so).
    Raises InputError naming the file and the problem."""
    import cv2

    if len(data) == 0:
        raise InputError(f"{name}: empty file")
    if len(data) > max_bytes:
        raise InputError(f"{name}: file is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
    try:
        fmt, w, h = image_size_from_header(data)
    except InputError as e:
        raise InputError(f"{name}: {e}") from None
    if w == 0 or h == 0:
        raise InputError(f"{name}: {fmt} header declares an empty {w}x{h} image")
    if w * h > max_pixels:
        raise InputError(f"{name}: {fmt} image is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is "
                         f"{max_pixels / 1e6:.0f} megapixels (downscale it first)")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        raise InputError(f"{name}: {fmt} file could not be decoded (corrupt or truncated)")
    image = np.ascontiguousarray(bgr[:, :, ::-1])
    note = ""
    if max(image.shape[:2]) > max_side:
        s = max_side / max(image.shape[:2])
        size = (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        note = f"{name}: {w}x{h} image downscaled to {size[0]}x{size[1]} for display and prediction"
    return image, note
