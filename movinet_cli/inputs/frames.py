"""One frame at a time: fitted to the model's square (``fit_frame``: crop, squash or pad),
converted to float32 RGB in [0, 1] (``to_model_input``, ``to_unit_range``), or scaled down to a
JPEG thumbnail (``jpeg_thumbnail``)."""

from __future__ import annotations

import numpy as np

from movinet_cli.inputs.opencv import cv2
from movinet_cli.options import MODEL_RESIZE, RESIZE_MODES


def fit_frame(frame: np.ndarray, size: int, resize: str = MODEL_RESIZE, crop_scale: float = 1.0) -> np.ndarray:
    """Resizes one uint8 frame [h, w, 3] to a square [size, size, 3] uint8 frame.

    ``crop``: shorter side to ``crop_scale * size`` pixels with bilinear interpolation, then
    a central square crop: the Kinetics eval recipe, whose scale each model variant has
    (``registry.Variant.crop_scale``; ``tf.image.resize`` is bilinear without antialiasing,
    which OpenCV's INTER_LINEAR matches to within rounding).
    ``squash``: straight resize to the square, ignoring the aspect ratio.
    ``pad``: longer side to ``size``, letterboxed with black.
    """
    height, width = frame.shape[:2]
    if resize == "squash":
        return _resize(frame, size, size)
    if resize == "crop":
        scale = round(size * crop_scale) / min(height, width)
        new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
        top, left = (new_h - size) // 2, (new_w - size) // 2
        if new_w * new_h > CROP_RESIZE_LIMIT * size * size:
            return _crop_resized(frame, size, new_w, new_h, top, left)
        resized = frame if (new_w, new_h) == (width, height) else cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        return resized[top : top + size, left : left + size]
    if resize == "pad":
        scale = size / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        canvas = np.zeros((size, size, 3), np.uint8)
        top, left = (size - new_h) // 2, (size - new_w) // 2
        canvas[top : top + new_h, left : left + new_w] = _resize(frame, new_w, new_h)
        return canvas
    raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")


# A crop resizes the whole frame, then keeps the central square, while the resized frame is at
# most this many output squares (an aspect ratio up to 4:1 after the variant's crop scale);
# beyond it (a 4000x2 frame would become 344000x172 pixels, 177 MB, for a 172x172 crop) only
# the square is computed from the source (``_crop_resized``).
CROP_RESIZE_LIMIT = 4


def _crop_resized(frame: np.ndarray, size: int, new_w: int, new_h: int, top: int, left: int) -> np.ndarray:
    """The [size, size] square at (top, left) of ``frame`` resized bilinearly to (new_w,
    new_h), computed without the resized frame: each output pixel is sampled where
    ``cv2.resize`` (INTER_LINEAR) samples it, edges replicated as it does. Memory and time
    are those of the output; values agree with resizing then cropping to within 1 level
    (OpenCV's warp interpolates at 1/32 pixel, its resize at finer steps)."""
    height, width = frame.shape[:2]
    step_x, step_y = width / new_w, height / new_h  # source pixels per resized pixel
    # Output pixel x samples the source at (x + left + 0.5) * step_x - 0.5 (pixel centres aligned).
    inverse = np.array([[step_x, 0, (left + 0.5) * step_x - 0.5], [0, step_y, (top + 0.5) * step_y - 0.5]])
    return cv2.warpAffine(frame, inverse, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == (width, height):
        return frame
    shrinking = width * height < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def to_model_input(frame_bgr: np.ndarray) -> np.ndarray:
    """Converts an OpenCV uint8 BGR frame [H, W, 3] to float32 RGB in [0, 1]."""
    return to_unit_range(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))


def to_unit_range(frame: np.ndarray) -> np.ndarray:
    """A uint8 frame [H, W, 3] as float32 in [0, 1]."""
    return np.multiply(frame, np.float32(1 / 255), dtype=np.float32)


def jpeg_thumbnail(frame_bgr: np.ndarray, width: int, quality: int = 80) -> bytes:
    """A JPEG (``quality`` 0-100) of a BGR uint8 frame scaled to ``width`` pixels wide."""
    height = max(1, round(frame_bgr.shape[0] * width / frame_bgr.shape[1]))
    ok, data = cv2.imencode(".jpg", _resize(frame_bgr, width, height), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {width}x{height} JPEG")
    return data.tobytes()
