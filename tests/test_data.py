import gzip

import numpy as np
import pytest

from gluon_dl.data import (ArrayLoader, load_mnist, normalize, random_shift, scale_to_range,
                           to_model_input, train_test_split)
from gluon_dl.errors import DataError
from gluon_dl.models import get_config


def test_embedded_mnist_is_5000_real_digits(mnist_split):
    X, y = load_mnist()
    assert X.shape == (5000, 28, 28) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [500] * 10
    # Real digits: dark border, bright strokes, about 19% of pixels lit.
    assert X[:, 0, :].max() == 0 and X.max() == 255
    assert 0.15 < (X > 0).mean() < 0.25


def test_split_is_deterministic_stratified_and_disjoint(mnist_split):
    X, y = load_mnist()
    a = train_test_split(X, y, 1000, seed=3)
    b = train_test_split(X, y, 1000, seed=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    X_tr, X_te, y_tr, y_te = a
    assert len(X_tr) == 4000 and len(X_te) == 1000
    assert np.bincount(y_te).tolist() == [100] * 10
    flat_tr = {x.tobytes() for x in X_tr}
    assert not any(x.tobytes() in flat_tr for x in X_te)
    c = train_test_split(X, y, 1000, seed=4)
    assert not np.array_equal(a[3], c[3]) or not np.array_equal(a[1], c[1])


def test_split_rejects_empty_parts():
    X, y = np.zeros((10, 28, 28), np.uint8), np.arange(10) % 2
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(X, y, 10)


def test_custom_csv_and_npz(tmp_path):
    X, y = load_mnist()
    rows = np.hstack([X[:20].reshape(20, -1), y[:20, None]]).astype(int)
    path = tmp_path / "small.csv.gz"
    with gzip.open(path, "wt") as f:
        np.savetxt(f, rows, fmt="%d", delimiter=",")
    X2, y2 = load_mnist(path)
    np.testing.assert_array_equal(X2, X[:20])
    np.testing.assert_array_equal(y2, y[:20])
    np.savez(tmp_path / "small.npz", X=X[:5], y=y[:5])
    X3, y3 = load_mnist(tmp_path / "small.npz")
    np.testing.assert_array_equal(X3, X[:5])


@pytest.mark.parametrize("content, match", [
    ("1,2,3\n4,5,6\n", "785"),
    ("not,a,number\n", "not a readable csv"),
])
def test_malformed_csv_names_the_file(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=match) as info:
        load_mnist(path)
    assert "bad.csv" in str(info.value)


def test_missing_file_and_bad_labels(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(tmp_path / "nope.csv")
    np.savez(tmp_path / "bad.npz", X=np.zeros((2, 28, 28)), y=np.array([1, 12]))
    with pytest.raises(DataError, match="labels must be 0-9"):
        load_mnist(tmp_path / "bad.npz")


def test_transforms_follow_the_config():
    cfg = get_config("lenet5")
    X = np.full((2, 28, 28), 255, np.uint8)
    x = to_model_input(X, cfg)
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x, (1.0 - 0.1307) / 0.3081, rtol=1e-6)
    assert scale_to_range(X, cfg).max() == pytest.approx(1.0)
    nhwc = cfg.replace(layout="NHWC", input_shape=(28, 28, 1), mean=(0.5,), std=(0.5,))
    assert to_model_input(X, nhwc).shape == (2, 28, 28, 1)
    np.testing.assert_allclose(normalize(np.zeros((1, 2, 2, 1), np.float32), nhwc), -1.0)


def test_random_shift_moves_digits_without_losing_ink():
    X, _ = load_mnist()
    rng = np.random.RandomState(0)
    shifted = random_shift(X[:50], 2, rng)
    assert shifted.shape == (50, 28, 28)
    # MNIST digits sit in the central 20x20 box, so a 2-pixel shift keeps every stroke.
    np.testing.assert_array_equal(shifted.reshape(50, -1).sum(1), X[:50].reshape(50, -1).sum(1))
    assert (shifted != X[:50]).any()


def test_array_loader_order_is_a_function_of_seed_and_epoch():
    X = np.arange(10)[:, None].astype(np.float32)
    y = np.arange(10)
    loader = ArrayLoader(X, y, 4, shuffle=True, seed=1, as_ndarray=False)
    assert len(loader) == 3
    e0 = np.concatenate([b for b, _ in loader.batches(0)])
    e1 = np.concatenate([b for b, _ in loader.batches(1)])
    assert sorted(e0.ravel()) == list(range(10)) and not np.array_equal(e0, e1)
    np.testing.assert_array_equal(e0, np.concatenate([b for b, _ in loader.batches(0)]))
    resumed = np.concatenate([b for b, _ in loader.batches(0, start=1)])
    np.testing.assert_array_equal(resumed, e0[4:])
    assert len(ArrayLoader(X, y, 4, last_batch="discard")) == 2
    with pytest.raises(ValueError, match="samples but"):
        ArrayLoader(X, y[:3], 4)
