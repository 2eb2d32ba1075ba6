"""Image codecs: ImageDecoder, decoding with Pillow (an optional dependency).

Decoding JPEG / PNG / BMP / WebP / TIFF / PNM / JPEG 2000 is a codec library's job, not a numpy
kernel's: without Pillow the provider refuses ImageDecoder nodes with a reason saying so.
"""

from __future__ import annotations

import importlib.util
import io

import numpy as np

from .registry import kernel

PIXEL_FORMATS = ("RGB", "BGR", "Grayscale")


def _pillow_missing(node, graph) -> str | None:
    """Refusal reason when Pillow is not installed (checked when the graph is partitioned)."""
    if importlib.util.find_spec("PIL") is None:
        return "ImageDecoder needs Pillow: pip install pillow (or ep-runtime[image])"
    return None


@kernel("ImageDecoder", since=20, supports=_pillow_missing)
def ImageDecoder(encoded_stream: np.ndarray, *, pixel_format: str = "RGB") -> np.ndarray:
    """A 1-D uint8 tensor holding an encoded image -> (H, W, 3) RGB/BGR or (H, W, 1) grayscale uint8."""
    from PIL import Image, UnidentifiedImageError

    if pixel_format not in PIXEL_FORMATS:
        raise ValueError(f"ImageDecoder: unknown pixel_format {pixel_format!r}; expected one of {PIXEL_FORMATS}")
    if encoded_stream.ndim != 1 or encoded_stream.dtype != np.uint8:
        raise ValueError(f"ImageDecoder: the encoded stream must be a 1-D uint8 tensor, got "
                         f"{encoded_stream.dtype} of shape {encoded_stream.shape}")
    try:
        img = Image.open(io.BytesIO(encoded_stream.tobytes()))
        img.load()
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"ImageDecoder: cannot decode the image ({e})") from e
    if pixel_format == "Grayscale":
        return np.asarray(img.convert("L"), dtype=np.uint8)[:, :, None].copy()
    rgb = np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1] if pixel_format == "BGR" else rgb)
