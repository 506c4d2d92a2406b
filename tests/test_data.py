import gzip
import io
import zipfile

import numpy as np
import pytest

from gluon_dl.data import (ArrayLoader, load_mnist, normalize, random_shift, scale_to_range,
                           to_model_input, train_test_split)
from gluon_dl.errors import ArgumentError, ArgumentTypeError, DataError
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


@pytest.mark.parametrize("n, test_size, error, match", [
    (0, 1, ArgumentError, "0 samples cannot be split"),
    (1, 1, ArgumentError, "1 samples cannot be split"),
    (10, 0, ArgumentError, "leaves no training or no held-out"),
    (10, -3, ArgumentError, "leaves no training or no held-out"),
    (10, 1.5, ArgumentError, "between 0 and 1"),
    (10, "3", ArgumentTypeError, "count or a fraction"),
    (10, True, ArgumentTypeError, "count or a fraction"),
])
def test_split_refuses_tiny_inputs_and_bad_sizes(n, test_size, error, match):
    X, y = np.zeros((n, 28, 28), np.uint8), np.arange(n) % 2
    with pytest.raises(error, match=match):
        train_test_split(X, y, test_size)


def test_split_refuses_mismatched_lengths():
    with pytest.raises(ArgumentError, match="10 samples but 9 labels"):
        train_test_split(np.zeros((10, 2)), np.zeros(9), 2)


def test_split_of_distinct_targets_is_random_not_the_smallest_values():
    """Regression targets are each their own class: the held-out part must follow the seed."""
    y = np.random.RandomState(1).rand(100)
    held_out = [train_test_split(np.arange(100), y, 20, seed=s)[3] for s in (3, 7)]
    assert not np.array_equal(np.sort(held_out[0]), np.sort(held_out[1]))
    assert all(part.max() > np.quantile(y, 0.5) for part in held_out)


def test_split_with_nan_labels_keeps_the_held_out_size():
    _, X_test, _, y_test = train_test_split(np.zeros((10, 2)), np.full(10, np.nan), 4)
    assert len(X_test) == len(y_test) == 4


def test_split_refuses_labels_that_are_not_one_per_sample():
    one_hot = np.eye(2)[np.arange(10) % 2]
    with pytest.raises(ArgumentError, match=r"one class label per sample.*\(10, 2\)"):
        train_test_split(np.zeros((10, 2)), one_hot, 4)
    assert len(train_test_split(np.zeros((10, 2)), one_hot, 4, stratify=False)[1]) == 4


@pytest.mark.parametrize("seed", [-1, 2 ** 32, 1.5, True])
def test_split_and_loader_refuse_seeds_numpy_cannot_take(seed):
    X, y = np.zeros((10, 2), np.float32), np.arange(10) % 2
    with pytest.raises(ArgumentError, match="seed must be an integer from 0 to 4294967295"):
        train_test_split(X, y, 2, seed=seed)
    with pytest.raises(ArgumentError, match="seed must be an integer from 0 to 4294967295"):
        ArrayLoader(X, y, 4, shuffle=True, seed=seed)


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


@pytest.mark.parametrize("n, kwargs, error, match", [
    (0, {}, ArgumentError, "no samples"),
    (3, {"last_batch": "discard"}, ArgumentError, "no full batch of 4"),
    (8, {"num_shards": 8}, ArgumentError, "leave some shards empty"),
    (8, {"num_shards": 2, "shard": 2}, ArgumentError, "outside 0..1"),
    (8, {"num_shards": 0}, ArgumentError, "outside"),
    (8, {"batch_size": 2.5}, ArgumentTypeError, "batch_size must be an integer"),
    (8, {"batch_size": 0}, ArgumentError, "batch_size must be positive"),
    (8, {"last_batch": "drop"}, ArgumentError, "'keep' or 'discard'"),
])
def test_array_loader_refuses_empty_epochs_and_bad_arguments(n, kwargs, error, match):
    kwargs = {"batch_size": 4, **kwargs}
    with pytest.raises(error, match=match):
        ArrayLoader(np.zeros((n, 1), np.float32), np.zeros(n), **kwargs)


def save_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("X, match", [
    (np.arange(2 * 28 * 28).reshape(2, 28, 28) % 301, "from 0 to 300"),
    (np.full((2, 28, 28), -1), "from -1 to -1"),
    (np.full((2, 28, 28), 0.5, np.float32), "with fractions"),
    (np.full((2, 28, 28), np.nan), "whole numbers 0..255"),
])
def test_npz_pixels_outside_0_255_are_refused(tmp_path, X, match):
    path = save_npz(tmp_path / "pixels.npz", X=X, y=np.array([1, 2]))
    with pytest.raises(DataError, match=match) as info:
        load_mnist(path)
    assert "pixels.npz" in str(info.value) and "0..255" in str(info.value)


def test_npz_whole_number_floats_are_pixels(tmp_path):
    X = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    path = save_npz(tmp_path / "ok.npz", X=X.astype(np.float32), y=np.array([3.0, 9.0]))
    X2, y2 = load_mnist(path)
    np.testing.assert_array_equal(X2, X)
    assert X2.dtype == np.uint8 and y2.tolist() == [3, 9] and y2.dtype == np.int32


@pytest.mark.parametrize("y, match", [
    (np.array([3.5, 1.0]), "with fractions"),
    (np.array([1, 10]), "labels must be 0-9"),
    (np.array([[1], [2]]), "labels"),
])
def test_npz_labels_must_be_whole_numbers_0_9(tmp_path, y, match):
    path = save_npz(tmp_path / "labels.npz", X=np.zeros((2, 28, 28), np.uint8), y=y)
    with pytest.raises(DataError, match=match):
        load_mnist(path)


@pytest.mark.parametrize("X, match", [
    (np.array([None, 1], dtype=object), "dtype object"),
    (np.full((2, 28, 28), "7"), "dtype <U1"),
    (np.zeros((2, 28, 28), np.complex64), "dtype complex64"),
])
def test_npz_of_objects_strings_or_complex_is_refused(tmp_path, X, match):
    path = save_npz(tmp_path / "odd.npz", X=X, y=np.array([1, 2]))
    with pytest.raises(DataError, match=match):
        load_mnist(path)


def forged_npz(path, shape):
    """An npz whose 'X' header declares ``shape`` but holds one image."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
    buf.write(bytes(28 * 28))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", buf.getvalue())
        y = io.BytesIO()
        np.save(y, np.array([1]))
        zf.writestr("y.npy", y.getvalue())
    return path


def test_npz_with_a_forged_header_is_refused_before_loading(tmp_path):
    path = forged_npz(tmp_path / "forged.npz", (10 ** 9, 28, 28))
    with pytest.raises(DataError, match=r"forged.npz: array 'X' declares shape "
                                        r"\(1000000000, 28, 28\).*holds 784 bytes"):
        load_mnist(path)
    assert load_mnist(forged_npz(tmp_path / "honest.npz", (1, 28, 28)))[0].shape == (1, 28, 28)


@pytest.mark.parametrize("content, match", [
    (b"not a zip at all", "not an .npz"),
    (None, "has no array 'y'"),
])
def test_npz_that_is_no_archive_or_lacks_labels(tmp_path, content, match):
    path = tmp_path / "bad.npz"
    if content is None:
        np.savez(path, X=np.zeros((1, 28, 28), np.uint8))
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        load_mnist(path)


def test_empty_npz_and_csv_fractions_are_refused(tmp_path):
    path = save_npz(tmp_path / "empty.npz", X=np.zeros((0, 28, 28), np.uint8),
                    y=np.zeros(0, np.int64))
    with pytest.raises(DataError, match="holds no images"):
        load_mnist(path)
    row = np.zeros(785)
    row[5], row[-1] = 12.5, 3
    np.savetxt(tmp_path / "frac.csv", row[None], delimiter=",")
    with pytest.raises(DataError, match="frac.csv: pixel values .* with fractions"):
        load_mnist(tmp_path / "frac.csv")
    row[5], row[-1] = 12, 3.5
    np.savetxt(tmp_path / "label.csv", row[None], delimiter=",")
    with pytest.raises(DataError, match="label.csv: labels must be 0-9"):
        load_mnist(tmp_path / "label.csv")


# ---------------------------------------------------------------- several inputs and targets

def test_array_loader_yields_tuples_for_tuples_in_the_same_order():
    A = np.arange(10)[:, None].astype(np.float32)
    B = np.arange(10, 20).astype(np.int32)
    y1, y2 = np.arange(10) * 2, np.arange(10) * 3
    loader = ArrayLoader((A, B), (y1, y2), 4, shuffle=True, seed=5, as_ndarray=False)
    plain = ArrayLoader(A, y1, 4, shuffle=True, seed=5, as_ndarray=False)
    assert len(loader) == 3
    for (xs, ys), (x, y) in zip(loader.batches(1), plain.batches(1)):
        assert isinstance(xs, tuple) and len(xs) == 2 and isinstance(ys, tuple)
        np.testing.assert_array_equal(xs[0], x)  # the same order as one array's
        np.testing.assert_array_equal(xs[1], x[:, 0].astype(np.int32) + 10)  # rows stay paired
        assert xs[1].dtype == np.int32
        np.testing.assert_array_equal(ys[0], y)
        np.testing.assert_array_equal(ys[1], y // 2 * 3)
    resumed = [xs[1] for xs, _ in loader.batches(1, start=2)]
    np.testing.assert_array_equal(resumed[0], list(loader.batches(1))[2][0][1])
    # A tuple of one is still a tuple; a plain y stays plain.
    xs, y = next(ArrayLoader((A,), y1, 4, as_ndarray=False).batches(0))
    assert isinstance(xs, tuple) and len(xs) == 1 and isinstance(y, np.ndarray)


def test_array_loader_transforms_and_shards_every_input():
    A = np.arange(16)[:, None].astype(np.float32)
    B = np.arange(16)[:, None].astype(np.float32)
    seen = []

    def augment(xb, rng):
        seen.append(xb.copy())
        return xb + 1000

    shards = [ArrayLoader((A, B), np.arange(16), 8, shuffle=True, seed=2, as_ndarray=False,
                          transform=lambda xb: -xb, augment=augment, num_shards=2, shard=k)
              for k in range(2)]
    (a0, b0), y0 = next(shards[0].batches(0))
    (a1, b1), y1 = next(shards[1].batches(0))
    # transform and augment reach the first input only; rows stay paired across inputs
    np.testing.assert_array_equal(a0, -(b0 + 1000))
    np.testing.assert_array_equal(b0[:, 0], y0)
    assert len(seen) == 2 and seen[0].shape == (8, 1)  # augmented before sharding
    assert sorted(np.concatenate([y0, y1])) == sorted(seen[0][:, 0])


@pytest.mark.parametrize("X, y, error, match", [
    ((np.zeros((4, 1)), np.zeros(3)), np.zeros(4), ArgumentError,
     r"X\[0\] has 4 rows, X\[1\] has 3"),
    (np.zeros((4, 1)), (np.zeros(4), np.zeros(5)), ArgumentError, r"y\[1\] has 5"),
    ((np.zeros((4, 1)), np.zeros(4)), np.zeros(3), ArgumentError, "4 samples but 3 labels"),
    ((), np.zeros(3), ArgumentError, "empty tuple"),
    ((np.zeros((4, 1)), 7), np.zeros(4), ArgumentTypeError, "X holds a int"),
    (5, np.zeros(4), ArgumentTypeError, "X holds a int"),
])
def test_array_loader_refuses_tuples_that_do_not_line_up(X, y, error, match):
    with pytest.raises(error, match=match):
        ArrayLoader(X, y, 2)


def test_fit_trains_a_two_input_network_from_an_array_loader():
    import mxnet as mx
    from mxnet import gluon

    from gluon_dl.training import fit

    class Sum(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.a, self.b = gluon.nn.Dense(1), gluon.nn.Dense(1)

        def hybrid_forward(self, F, a, b):
            return (self.a(a) + self.b(b)).reshape((-1,))

    rng = np.random.RandomState(0)
    A, B = rng.randn(256, 3).astype(np.float32), rng.randn(256, 2).astype(np.float32)
    y = A @ np.array([1., -2., 0.5], np.float32) + B @ np.array([3., 1.], np.float32)
    mx.random.seed(0)
    net = Sum()
    history = fit(net, ArrayLoader((A, B), y, 64, shuffle=True), 12, lr=0.2,
                  loss=gluon.loss.L2Loss(), progress=False)
    assert history.history["loss"][-1] < 0.01 * history.history["loss"][0]
    np.testing.assert_allclose(net.b.weight.data().asnumpy().ravel(), [3., 1.], atol=0.1)
