import cv2
import numpy as np
import pytest

from movinet_cli.inputs.frames import fit_frame, to_model_input


def striped_frame():
    """64x48 BGR: red centre, blue 8-pixel bands at the left and right edges."""
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, :, 2] = 255
    frame[:, :8] = frame[:, -8:] = (255, 0, 0)
    return frame


def test_crop_follows_the_kinetics_recipe_and_cuts_the_edges():
    from movinet_cli.model.registry import VARIANTS

    cropped = fit_frame(striped_frame(), 32, "crop", VARIANTS["a5-base"].crop_scale)
    assert cropped.shape == (32, 32, 3)
    assert (cropped[..., 2] > 200).all() and (cropped[..., 0] < 50).all()  # only red is left


def test_squash_keeps_the_whole_picture():
    squashed = fit_frame(striped_frame(), 32, "squash")
    assert squashed.shape == (32, 32, 3)
    assert squashed[16, 0, 0] > 200 and squashed[16, 16, 2] > 200  # blue edge, red centre


def test_pad_letterboxes_with_black():
    padded = fit_frame(striped_frame(), 32, "pad")
    assert padded.shape == (32, 32, 3)
    assert (padded[:4] == 0).all() and (padded[-4:] == 0).all()  # 64x48 -> 32x24 + 4-pixel bars
    assert padded[16, 16, 2] > 200


def test_model_input_is_rgb_float_in_unit_range():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's channel order
    frame = to_model_input(bgr)
    assert frame.dtype == np.float32
    assert np.allclose(frame[0, 0], [0, 0, 1])


@pytest.mark.parametrize("variant", ["a0-base", "a2-base", "a5-base"])
def test_the_crop_is_the_eval_recipe_written_with_tensorflow_ops(variant):
    """Shorter side to the variant's eval size (bilinear, as tf.image.resize), central crop."""
    from movinet_cli._lazy import tensorflow
    from movinet_cli.model.registry import VARIANTS

    tf = tensorflow()
    spec = VARIANTS[variant]
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (360, 640, 3), np.uint8)  # noise: any other interpolation shows
    height, width = frame.shape[:2]
    short = spec.eval_short_side
    new_h, new_w = short, round(width * short / height)
    resized = tf.image.resize(frame[np.newaxis].astype(np.float32), [new_h, new_w], method="bilinear")
    reference = tf.image.crop_to_bounding_box(resized, (new_h - spec.size) // 2, (new_w - spec.size) // 2, spec.size, spec.size).numpy()[0]
    ours = fit_frame(frame, spec.size, "crop", spec.crop_scale).astype(np.float32)
    assert ours.shape == reference.shape == (spec.size, spec.size, 3)
    assert np.abs(ours - reference).max() <= 1.0  # rounding to uint8 only


@pytest.mark.parametrize("shape", [(2, 1000), (1000, 2), (1, 9), (30, 200)])
def test_a_crop_of_an_extreme_aspect_ratio_costs_the_output_not_the_input(shape, monkeypatch):
    """The central square of a resized 4000x2 frame, without the 344000x172 resized frame:
    within one level of resizing then cropping, and no array larger than the output made."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (*shape, 3), np.uint8)
    height, width = shape
    scale = 172 / min(height, width)
    new_w, new_h = max(172, round(width * scale)), max(172, round(height * scale))
    top, left = (new_h - 172) // 2, (new_w - 172) // 2
    reference = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)[top : top + 172, left : left + 172].astype(int)
    sizes = []
    resize = cv2.resize
    monkeypatch.setattr(cv2, "resize", lambda image, dsize, *args, **kwargs: sizes.append(dsize) or resize(image, dsize, *args, **kwargs))
    ours = fit_frame(frame, 172, "crop")
    assert ours.shape == (172, 172, 3) and np.abs(ours.astype(int) - reference).max() <= 1
    assert all(w * h <= 4 * 172 * 172 for w, h in sizes), sizes
