"""Image transforms: resize, crops, flips, colour jitter, channels and the model's input."""
import numpy as np
import pytest

from gluon_dl.config import ModelConfig
from gluon_dl.data.transforms import (color_jitter, random_crop, random_flip, random_shift,
                                      resize, to_channels, to_model_input)
from gluon_dl.errors import ArgumentError, InputShapeError

LENET = ModelConfig(name="lenet5", input_shape=(1, 28, 28), mean=(0.1307,), std=(0.3081,))
RGB = ModelConfig(name="rgbnet", input_shape=(3, 32, 32), mean=(0.5, 0.5, 0.5),
                  std=(0.25, 0.25, 0.25))


def _batch(shape, seed=0, dtype=np.uint8):
    rng = np.random.RandomState(seed)
    if dtype == np.uint8:
        return rng.randint(0, 256, size=shape).astype(np.uint8)
    return rng.uniform(size=shape).astype(dtype)


# ---------------------------------------------------------------- resize

def test_resize_upsamples_with_aligned_pixel_centres():
    x = np.array([[[0, 1], [2, 3]]], np.float32)
    expected = np.array([[0.0, 0.25, 0.75, 1.0],
                         [0.5, 0.75, 1.25, 1.5],
                         [1.5, 1.75, 2.25, 2.5],
                         [2.0, 2.25, 2.75, 3.0]], np.float32)
    np.testing.assert_allclose(resize(x, 4)[0], expected, rtol=0, atol=1e-6)


def test_resize_halving_averages_2x2_blocks():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    np.testing.assert_allclose(resize(x, (2, 2))[0], [[2.5, 4.5], [10.5, 12.5]], atol=1e-6)


def test_resize_keeps_dtype_channels_and_constants():
    x = np.full((3, 8, 8, 3), 0, np.uint8)
    x[..., 0], x[..., 1], x[..., 2] = 10, 128, 255
    out = resize(x, (28, 20))
    assert out.shape == (3, 28, 20, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], 10)
    np.testing.assert_array_equal(out[..., 2], 255)
    assert resize(np.zeros((2, 5, 5), np.float64), 3).dtype == np.float64
    same = _batch((2, 6, 6))
    np.testing.assert_array_equal(resize(same, 6), same)


def test_resize_rounds_uint8_like_the_float_result():
    x = _batch((4, 8, 8))
    as_float = resize(x.astype(np.float32), 28)
    np.testing.assert_array_equal(resize(x, 28), np.clip(np.rint(as_float), 0, 255))


def test_resize_matches_pillow_when_upsampling():
    Image = pytest.importorskip("PIL.Image")
    a = np.random.RandomState(0).rand(5, 7).astype(np.float32)
    ours = resize(a[None], (13, 11))[0]
    theirs = np.asarray(Image.fromarray(a, mode="F").resize((11, 13), Image.BILINEAR))
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("size", [0, -3, (4,), (4, 0), 2.5, "28", True])
def test_resize_refuses_bad_sizes(size):
    with pytest.raises(ArgumentError, match="size"):
        resize(np.zeros((1, 4, 4), np.float32), size)


@pytest.mark.parametrize("images,pattern", [
    (np.zeros((4, 4), np.float32), "batch of images"),
    (np.zeros((1, 4, 4, 1, 1), np.float32), "batch of images"),
    (np.zeros((1, 4, 4), np.int64), "uint8 pixels"),
])
def test_resize_refuses_what_is_no_image_batch(images, pattern):
    with pytest.raises(InputShapeError, match=pattern):
        resize(images, 2)


# ---------------------------------------------------------------- random crops and flips

def test_random_crop_takes_windows_of_the_padded_images():
    x = _batch((16, 10, 12, 3))
    out = random_crop(x, (8, 9), 2, np.random.RandomState(5))
    assert out.shape == (16, 8, 9, 3) and out.dtype == np.uint8
    rng = np.random.RandomState(5)
    dy, dx = rng.randint(0, 14 - 8 + 1, 16), rng.randint(0, 16 - 9 + 1, 16)
    padded = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)])
    for i in range(16):
        np.testing.assert_array_equal(out[i], padded[i, dy[i]:dy[i] + 8, dx[i]:dx[i] + 9])
    np.testing.assert_array_equal(out, random_crop(x, (8, 9), 2, np.random.RandomState(5)))
    assert (out != random_crop(x, (8, 9), 2, np.random.RandomState(6))).any()


def test_random_crop_without_padding_of_full_size_is_the_identity():
    x = _batch((3, 6, 6))
    np.testing.assert_array_equal(random_crop(x, 6, 0, np.random.RandomState(0)), x)
    with pytest.raises(ArgumentError, match="does not fit"):
        random_crop(x, 9, 1, np.random.RandomState(0))
    with pytest.raises(ArgumentError, match="padding"):
        random_crop(x, 4, -1, np.random.RandomState(0))


def test_random_shift_draws_as_it_always_did():
    x = _batch((20, 28, 28))
    rng = np.random.RandomState(3)
    dy, dx = rng.randint(0, 5, size=20), rng.randint(0, 5, size=20)
    padded = np.pad(x, [(0, 0), (2, 2), (2, 2)])
    expected = np.stack([padded[i, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28] for i in range(20)])
    np.testing.assert_array_equal(random_shift(x, 2, np.random.RandomState(3)), expected)


def test_random_flip_mirrors_about_half_the_images_reproducibly():
    x = _batch((200, 5, 7, 3))
    out = random_flip(x, np.random.RandomState(1))
    flipped = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert (flipped | kept).all() and 70 < flipped.sum() < 130
    np.testing.assert_array_equal(out, random_flip(x, np.random.RandomState(1)))
    assert random_flip(x[:, :, :, 0], np.random.RandomState(1)).shape == (200, 5, 7)


# ---------------------------------------------------------------- colour jitter

def test_color_jitter_is_reproducible_and_stays_in_range():
    x = _batch((32, 8, 8, 3))
    a = color_jitter(x, 0.4, 0.4, 0.4, np.random.RandomState(0))
    assert a.dtype == np.uint8 and a.shape == x.shape and (a != x).any()
    np.testing.assert_array_equal(a, color_jitter(x, 0.4, 0.4, 0.4, np.random.RandomState(0)))
    f = color_jitter(x / np.float32(255), 0.9, 0.9, 0.9, np.random.RandomState(0))
    assert f.dtype == np.float32 and f.min() >= 0.0 and f.max() <= 1.0


def test_color_jitter_of_zero_strength_changes_nothing():
    x = _batch((8, 6, 6, 3))
    np.testing.assert_array_equal(color_jitter(x, 0, 0, 0, np.random.RandomState(0)), x)


def test_brightness_scales_each_image_within_its_range():
    x = np.full((50, 4, 4), 0.5, np.float32)
    out = color_jitter(x, 0.3, 0.0, 0.0, np.random.RandomState(2))
    factors = out[:, 0, 0] / 0.5
    assert factors.min() >= 0.7 - 1e-6 and factors.max() <= 1.3 + 1e-6
    assert np.ptp(factors) > 0.3  # one factor per image
    np.testing.assert_allclose(out, np.broadcast_to(factors[:, None, None] * 0.5, x.shape),
                               rtol=1e-6)


def test_saturation_leaves_gray_pixels_alone():
    gray = np.repeat(_batch((10, 6, 6, 1)), 3, axis=-1)
    np.testing.assert_array_equal(color_jitter(gray, 0, 0, 0.9, np.random.RandomState(0)), gray)
    x = _batch((10, 6, 6))
    np.testing.assert_array_equal(color_jitter(x, 0, 0, 0.9, np.random.RandomState(0)), x)


def test_color_jitter_refuses_bad_strengths_and_channels():
    with pytest.raises(ArgumentError, match="contrast"):
        color_jitter(_batch((1, 4, 4)), 0.1, -0.1, 0, np.random.RandomState(0))
    with pytest.raises(InputShapeError, match="gray or RGB"):
        color_jitter(_batch((1, 4, 4, 4)), 0.1, 0.1, 0, np.random.RandomState(0))


# ---------------------------------------------------------------- channels

def test_to_channels_repeats_gray_and_takes_luminance_of_rgb():
    gray = _batch((2, 4, 4))
    rgb = to_channels(gray, 3)
    assert rgb.shape == (2, 4, 4, 3) and rgb.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], gray)
    pure = np.zeros((1, 1, 3, 3), np.uint8)
    pure[0, 0, 0, 0] = pure[0, 0, 1, 1] = pure[0, 0, 2, 2] = 255
    np.testing.assert_array_equal(to_channels(pure, 1)[0, 0, :, 0], [76, 150, 29])
    np.testing.assert_array_equal(to_channels(rgb, 1)[..., 0], gray)
    assert to_channels(gray, 1).shape == (2, 4, 4, 1)


def test_to_channels_refuses_other_conversions():
    with pytest.raises(InputShapeError, match="4 channels"):
        to_channels(np.zeros((1, 4, 4, 4), np.uint8), 3)
    with pytest.raises(ArgumentError, match="channels"):
        to_channels(np.zeros((1, 4, 4), np.uint8), 0)


# ---------------------------------------------------------------- to_model_input

def test_channel_mismatch_is_refused_naming_both_counts_and_the_fix():
    with pytest.raises(InputShapeError) as gray_to_rgb:
        to_model_input(np.zeros((2, 32, 32), np.uint8), RGB)
    message = str(gray_to_rgb.value)
    assert "1 channel" in message and "takes 3" in message and "to_channels(images, 3)" in message
    with pytest.raises(InputShapeError, match=r"3 channels .* takes 1 .*to_channels\(images, 1\)"):
        to_model_input(np.zeros((2, 28, 28, 3), np.uint8), LENET)


def test_converted_channels_are_accepted():
    x = to_model_input(to_channels(np.full((2, 32, 32), 255, np.uint8), 3), RGB)
    assert x.shape == (2, 3, 32, 32)
    np.testing.assert_allclose(x, (1.0 - 0.5) / 0.25)


def test_size_mismatch_is_refused_unless_resize_is_asked():
    digits = np.full((3, 8, 8), 255, np.uint8)
    with pytest.raises(InputShapeError, match=r"8x8 .* takes 28x28; pass resize=True"):
        to_model_input(digits, LENET)
    x = to_model_input(digits, LENET, resize=True)
    assert x.shape == (3, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x, (1.0 - 0.1307) / 0.3081, rtol=1e-6)


def test_to_model_input_follows_the_layout():
    nhwc = RGB.replace(layout="NHWC", input_shape=(32, 32, 3))
    x = _batch((2, 32, 32, 3))
    a, b = to_model_input(x, nhwc), to_model_input(x, RGB)
    assert a.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(a, b.transpose(0, 2, 3, 1))


def test_to_model_input_refuses_configs_and_dtypes_that_are_not_images():
    tokens = ModelConfig(name="lm", input_shape=(16,), layout="NT", input_dtype="int32",
                         input_range=(0, 28))
    with pytest.raises(ArgumentError, match="layout NT"):
        to_model_input(np.zeros((2, 28, 28), np.uint8), tokens)
    with pytest.raises(InputShapeError, match="int64"):
        to_model_input(np.zeros((2, 28, 28), np.int64), LENET)
