"""The data-set registry, the image sets' official formats and the embedded sets.

Every file is built in tmp_path in its official format (IDX gz files, the
CIFAR-10 binary tar.gz); nothing here touches the network.
"""
import dataclasses
import gzip
import io
import socket
import struct
import tarfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from gluon_dl.data import (DatasetInfo, data_root, dataset_info, list_datasets, load_dataset,
                           register_dataset)
from gluon_dl.data.datasets import _registry
from gluon_dl.errors import ArgumentError, ArgumentTypeError, DataError, UnknownNameError

FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to download fails the test instead of waiting on the network."""
    def refuse(*args, **kwargs):
        raise AssertionError("a data set loader tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def no_system_folders(monkeypatch, tmp_path):
    """Point every set's system folders (Fashion-MNIST's Debian package) at an empty folder."""
    empty = tmp_path / "system"
    for name, (fn, info) in list(_registry._DATASETS.items()):
        if info.folders:
            monkeypatch.setitem(_registry._DATASETS, name,
                                (fn, dataclasses.replace(info, folders=(str(empty),))))
    return empty


# ---------------------------------------------------------------- registry

@pytest.mark.parametrize("name", list_datasets())
def test_every_set_is_described(name):
    info = dataset_info(name)
    assert info.name == name and info.kind in ("image", "text", "tabular")
    assert info.lesson and info.source and info.splits
    assert info.embedded or info.files
    fn = _registry._DATASETS[name][0]
    assert "Defined for the lesson" in fn.__doc__
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.name = "other"


@pytest.mark.parametrize("name", [n for n in list_datasets() if not dataset_info(n).embedded])
def test_every_missing_set_names_folder_files_and_source(name, tmp_path, no_system_folders):
    info = dataset_info(name)
    with pytest.raises(DataError) as err:
        load_dataset(name, info.splits[0], root=tmp_path)
    message = str(err.value)
    assert str(tmp_path / name) in message and "nothing is downloaded" in message
    assert all(f in message for f in info.files) and info.source in message
    assert "\n" not in message
    if info.folders:
        assert str(no_system_folders) in message


def test_missing_fashion_mnist_names_the_debian_package(tmp_path, no_system_folders):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", "test", root=tmp_path)


@pytest.mark.parametrize("name", [n for n in list_datasets()
                                  if dataset_info(n).embedded and dataset_info(n).kind != "text"])
def test_embedded_sets_split_deterministically_and_disjointly(name):
    X, y = load_dataset(name, "all")
    X_tr, y_tr = load_dataset(name, "train")
    X_te, y_te = load_dataset(name, "test")
    assert y.dtype == np.int32 and len(X) == len(y) == len(X_tr) + len(X_te)
    assert X.dtype == (np.uint8 if dataset_info(name).kind == "image" else np.float32)
    np.testing.assert_array_equal(load_dataset(name, "test")[0], X_te)
    train_rows = {row.tobytes() for row in X_tr}
    assert sum(row.tobytes() in train_rows for row in X_te) <= 1  # iris repeats a flower
    # Stratified: every class keeps its share in the test part.
    share = np.bincount(y) / len(y)
    assert np.allclose(np.bincount(y_te, minlength=len(share)) / len(y_te), share, atol=0.02)
    assert y.max() == len(dataset_info(name).classes) - 1


@pytest.mark.parametrize("name, loader", [("iris", "load_iris"), ("wine", "load_wine"),
                                          ("breast-cancer", "load_breast_cancer"),
                                          ("digits", "load_digits")])
def test_embedded_tables_equal_scikit_learns(name, loader):
    import sklearn.datasets

    X, y = load_dataset(name, "all")
    reference = getattr(sklearn.datasets, loader)()
    expected = np.round(reference.data * (255 / 16)) if name == "digits" else reference.data
    np.testing.assert_allclose(X.reshape(len(X), -1), expected, rtol=1e-6)
    np.testing.assert_array_equal(y, reference.target)


@pytest.mark.parametrize("text, match", [
    ("150,4,a,b,c\n5.1,3.5,1.4,0.2,0\n", "does not describe its 1 rows"),
    ("1,4,a,b,c\n5.1,3.5,1.4,0.2,3\n", "labels must be whole numbers 0..2, found 3.0"),
    ("1,4,a,b,c\n5.1,3.5,1.4,0.2,1.5\n", "labels must be whole numbers"),
    ("1,4,a,b,c\n5.1,x,1.4,0.2,1\n", "not a CSV of numbers"),
])
def test_a_damaged_scikit_learn_table_is_refused(tmp_path, monkeypatch, text, match):
    from gluon_dl.data.datasets import embedded

    (tmp_path / "iris.csv").write_text(text)
    monkeypatch.setattr(embedded, "_sklearn_file", lambda name: tmp_path / name)
    with pytest.raises(DataError, match=match):
        load_dataset("iris", "all")


def test_damaged_digits_are_refused(tmp_path, monkeypatch):
    from gluon_dl.data.datasets import embedded

    row = ",".join(["17"] * 64 + ["3"])
    (tmp_path / "digits.csv.gz").write_bytes(gzip.compress(row.encode()))
    monkeypatch.setattr(embedded, "_sklearn_file", lambda name: tmp_path / name)
    with pytest.raises(DataError, match="64 pixels 0..16"):
        load_dataset("digits", "all")


def test_embedded_sets_without_scikit_learn_name_it(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "sklearn" else find_spec(name, *a))
    with pytest.raises(DataError, match="ships with scikit-learn, which is not installed"):
        load_dataset("wine", "all")


def test_mnist_5k_matches_load_mnist():
    from gluon_dl.data import load_mnist, train_test_split

    X, y = load_mnist()
    _, X_te, _, y_te = train_test_split(X, y, 1000, seed=0)
    X5, y5 = load_dataset("mnist-5k", "test")
    np.testing.assert_array_equal(X5, X_te)
    np.testing.assert_array_equal(y5, y_te)
    assert np.bincount(y5).tolist() == [100] * 10


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean .*fashion-mnist"):
        load_dataset("fashion-mnsit")
    with pytest.raises(UnknownNameError, match="unknown data set"):
        dataset_info("no-such-set")


def test_underscores_read_as_dashes():
    assert dataset_info("breast_cancer").name == "breast-cancer"


def test_split_must_be_one_of_the_sets(tmp_path):
    with pytest.raises(ArgumentError, match="has splits train, test; got split='valid'"):
        load_dataset("mnist", "valid", root=tmp_path)


def test_list_datasets_filters_by_pattern():
    assert "mnist" in list_datasets("*mnist*") and "iris" not in list_datasets("*mnist*")
    assert list_datasets() == sorted(list_datasets())


def test_registering_a_name_twice_is_refused():
    info = dataset_info("iris")
    with pytest.raises(ArgumentError, match="registered twice"):
        register_dataset(info)(lambda split, folders: None)


@pytest.mark.parametrize("fields, match", [
    (dict(name="Fashion_MNIST"), "lowercase words joined by dashes"),
    (dict(kind="video"), "kind must be one of"),
    (dict(files=()), "official files"),
    (dict(lesson=""), "needs splits, a lesson and a source"),
])
def test_dataset_info_is_validated(fields, match):
    base = dict(name="toy", kind="image", lesson="a lesson", source="a source",
                files=("toy.bin",))
    with pytest.raises(ArgumentError, match=match):
        DatasetInfo(**{**base, **fields})


def test_register_dataset_takes_a_description():
    with pytest.raises(ArgumentTypeError, match="takes a DatasetInfo, got dict"):
        register_dataset({"name": "toy"})


def test_root_must_be_a_path():
    with pytest.raises(ArgumentTypeError, match="root must be a folder path, got int"):
        load_dataset("mnist", root=5)


def test_root_comes_from_argument_then_variable_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GLUON_DL_DATA", raising=False)
    assert data_root() == tmp_path / "home" / ".gluon_dl" / "data"
    monkeypatch.setenv("GLUON_DL_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    _write_mnist(tmp_path / "env" / "mnist")
    assert load_dataset("mnist", "test")[0].shape == (4, 28, 28)


# ---------------------------------------------------------------- MNIST (IDX)

def _idx(magic, array):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _digits(n, seed):
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, (n, 28, 28)).astype(np.uint8), rng.randint(0, 10, n)


def _write_mnist(folder, gz=True, sizes=(6, 4)):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n, seed in (("train", sizes[0], 0), ("t10k", sizes[1], 1)):
        X, y = _digits(n, seed)
        arrays[prefix] = X, y
        for kind, magic, array in (("images-idx3", 0x803, X), ("labels-idx1", 0x801, y)):
            data = _idx(magic, array)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_the_four_idx_files(tmp_path, gz):
    arrays = _write_mnist(tmp_path / "mnist", gz=gz)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        X, y = load_dataset("mnist", split, root=tmp_path)
        assert X.dtype == np.uint8 and y.dtype == np.int32 and X.flags.writeable
        np.testing.assert_array_equal(X, arrays[prefix][0])
        np.testing.assert_array_equal(y, arrays[prefix][1])


def test_fashion_mnist_prefers_the_data_root(tmp_path, no_system_folders):
    arrays = _write_mnist(tmp_path / "fashion-mnist", sizes=(3, 2))
    X, y = load_dataset("fashion-mnist", "train", root=tmp_path)
    np.testing.assert_array_equal(X, arrays["train"][0])


def test_fashion_mnist_falls_back_to_the_system_folder(tmp_path, no_system_folders):
    arrays = _write_mnist(no_system_folders, sizes=(3, 2))
    X, _ = load_dataset("fashion-mnist", "test", root=tmp_path)
    np.testing.assert_array_equal(X, arrays["t10k"][0])


def _corrupt(folder, name, data):
    (folder / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)


@pytest.mark.parametrize("name, data, match", [
    # the labels file where the images belong
    ("train-images-idx3-ubyte.gz", _idx(0x801, np.zeros(6)), "magic number is 0x00000801"),
    ("train-labels-idx1-ubyte.gz", _idx(0x803, np.zeros((6, 28, 28))), "expected 0x00000801"),
    ("train-images-idx3-ubyte.gz", _idx(0x803, np.zeros((6, 28, 28)))[:-5], "is truncated"),
    ("train-images-idx3-ubyte.gz", _idx(0x803, np.zeros((6, 28, 28))) + b"x", "more bytes"),
    ("train-images-idx3-ubyte.gz", _idx(0x803, np.zeros((6, 32, 32))), "32x32, expected 28x28"),
    ("train-images-idx3-ubyte.gz", _idx(0x803, np.zeros((5, 28, 28))), "5 images but .* 6 labels"),
    ("train-labels-idx1-ubyte.gz", _idx(0x801, np.full(6, 10)), "labels must be 0-9, found 10"),
    ("train-images-idx3-ubyte.gz", b"\x00\x00\x08", "magic number is nothing"),
    ("train-images-idx3-ubyte.gz", struct.pack(">II", 0x803, 6), "header is cut short"),
])
def test_malformed_idx_files_are_refused(tmp_path, name, data, match):
    _write_mnist(tmp_path / "mnist", sizes=(6, 4))
    _corrupt(tmp_path / "mnist", name, data)
    with pytest.raises(DataError, match=match):
        load_dataset("mnist", "train", root=tmp_path)


def test_a_file_that_is_not_gzip_is_refused(tmp_path):
    _write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="truncated or not gzip"):
        load_dataset("mnist", "train", root=tmp_path)


def _forged(n):
    """An IDX image header declaring ``n`` images, followed by one image only."""
    return struct.pack(">IIII", 0x803, n, 28, 28) + bytes(784)


@pytest.mark.parametrize("gz", [True, False])
def test_a_forged_header_allocates_nothing_it_declares(tmp_path, gz):
    folder = tmp_path / "mnist"
    _write_mnist(folder, gz=gz)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    _corrupt(folder, name, _forged(200_000))  # 150 MiB declared, 784 bytes present
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="is truncated"):
            load_dataset("mnist", "train", root=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2 ** 20


def test_a_header_beyond_any_official_file_is_refused(tmp_path):
    _write_mnist(tmp_path / "mnist")
    _corrupt(tmp_path / "mnist", "train-images-idx3-ubyte.gz", _forged(2 ** 31))
    with pytest.raises(DataError, match="more than any official IDX file"):
        load_dataset("mnist", "train", root=tmp_path)


def test_a_plain_file_is_checked_against_its_header_before_reading(tmp_path, monkeypatch):
    from gluon_dl.data.datasets import _idx

    def refuse(*args):
        raise AssertionError("the body was read before the header was checked")
    monkeypatch.setattr(_idx, "read_at_most", refuse)
    _write_mnist(tmp_path / "mnist", gz=False)
    _corrupt(tmp_path / "mnist", "train-images-idx3-ubyte", _forged(200_000))
    with pytest.raises(DataError, match="is truncated"):
        load_dataset("mnist", "train", root=tmp_path)


def test_an_empty_idx_pair_is_refused(tmp_path):
    _write_mnist(tmp_path / "mnist")
    _corrupt(tmp_path / "mnist", "t10k-images-idx3-ubyte.gz", _idx(0x803, np.zeros((0, 28, 28))))
    _corrupt(tmp_path / "mnist", "t10k-labels-idx1-ubyte.gz", _idx(0x801, np.zeros(0)))
    with pytest.raises(DataError, match="holds no labels"):
        load_dataset("mnist", "test", root=tmp_path)


def test_images_without_labels_count_as_missing(tmp_path, no_system_folders):
    _write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="place train-images-idx3-ubyte.gz, "
                                        "train-labels-idx1-ubyte.gz"):
        load_dataset("mnist", "train", root=tmp_path)


@pytest.mark.skipif(not FASHION_SYSTEM.is_dir(), reason="the Debian package "
                    "dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)")
def test_real_fashion_mnist_from_the_debian_package(tmp_path):
    for split, n in (("train", 6000), ("test", 1000)):
        X, y = load_dataset("fashion-mnist", split, root=tmp_path)
        assert X.shape == (10 * n, 28, 28) and X.dtype == np.uint8
        assert np.bincount(y).tolist() == [n] * 10
        assert X.max() == 255 and 0.3 < (X > 0).mean() < 0.7  # clothes fill half the frame


# ---------------------------------------------------------------- CIFAR-10

def _records(labels, seed):
    rng = np.random.RandomState(seed)
    pixels = rng.randint(0, 256, (len(labels), 3, 32, 32)).astype(np.uint8)
    data = np.concatenate([np.array(labels, np.uint8)[:, None], pixels.reshape(len(labels), -1)],
                          axis=1)
    return data.tobytes(), pixels.transpose(0, 2, 3, 1), np.array(labels)


def _cifar_batches():
    batches = {f"data_batch_{i}.bin": _records([i, 9, 0], i) for i in range(1, 6)}
    batches["test_batch.bin"] = _records([3, 1, 4], 7)
    return batches


def _add(tar, name, data, **fields):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data))


def _write_cifar_tar(folder, batches, extra=()):
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "cifar-10-binary.tar.gz", "w:gz") as tar:
        _add(tar, "cifar-10-batches-bin/batches.meta.txt", b"airplane\nautomobile\n")
        for name, (data, _, _) in batches.items():
            _add(tar, f"cifar-10-batches-bin/{name}", data)
        for name, data, fields in extra:
            _add(tar, name, data, **fields)


def test_cifar10_reads_the_binary_tar_in_memory(tmp_path):
    batches = _cifar_batches()
    _write_cifar_tar(tmp_path / "cifar10", batches)
    X, y = load_dataset("cifar10", "train", root=tmp_path)
    assert X.shape == (15, 32, 32, 3) and X.dtype == np.uint8 and y.dtype == np.int32
    order = [f"data_batch_{i}.bin" for i in range(1, 6)]
    np.testing.assert_array_equal(X, np.concatenate([batches[n][1] for n in order]))
    np.testing.assert_array_equal(y, np.concatenate([batches[n][2] for n in order]))
    X, y = load_dataset("cifar10", "test", root=tmp_path)
    assert y.tolist() == [3, 1, 4] and X[0, 0, 0, 0] == batches["test_batch.bin"][1][0, 0, 0, 0]
    assert sorted(p.name for p in (tmp_path / "cifar10").iterdir()) == ["cifar-10-binary.tar.gz"]


def test_cifar10_reads_the_extracted_folder(tmp_path):
    batches = _cifar_batches()
    folder = tmp_path / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, (data, _, _) in batches.items():
        (folder / name).write_bytes(data)
    X, y = load_dataset("cifar10", "test", root=tmp_path)
    np.testing.assert_array_equal(X, batches["test_batch.bin"][1])
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(DataError, match="data_batch_3.bin is missing"):
        load_dataset("cifar10", "train", root=tmp_path)


@pytest.mark.parametrize("form", ["cifar-10-python.tar.gz", "cifar-10-batches-py"])
def test_cifar10_python_version_is_never_unpickled(tmp_path, monkeypatch, form):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("CIFAR-10's python version was unpickled")
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    folder = tmp_path / "cifar10"
    folder.mkdir()
    if form.endswith(".gz"):
        (folder / form).write_bytes(gzip.compress(b"pickles"))
    else:
        (folder / form).mkdir()
        (folder / form / "data_batch_1").write_bytes(b"\x80\x04pickle")
    with pytest.raises(DataError, match="pickled 'python' version.*place the binary version "
                                        "cifar-10-binary.tar.gz"):
        load_dataset("cifar10", "train", root=tmp_path)


@pytest.mark.parametrize("data, match", [
    (b"\x01" * 3072, "not a whole number of 3073-byte records"),
    (b"", "holds 0 bytes"),
    (bytes([10]) + bytes(3072), "has label 10"),
])
def test_malformed_cifar_batches_are_refused(tmp_path, data, match):
    batches = _cifar_batches()
    batches["test_batch.bin"] = (data, None, None)
    _write_cifar_tar(tmp_path / "cifar10", batches)
    with pytest.raises(DataError, match=match):
        load_dataset("cifar10", "test", root=tmp_path)


def test_cifar_archive_without_a_batch_is_refused(tmp_path):
    batches = _cifar_batches()
    del batches["data_batch_4.bin"]
    _write_cifar_tar(tmp_path / "cifar10", batches)
    with pytest.raises(DataError, match="has no cifar-10-batches-bin/data_batch_4.bin"):
        load_dataset("cifar10", "train", root=tmp_path)


@pytest.mark.parametrize("name, fields, match", [
    ("../escape.bin", {}, "points outside the archive's folder"),
    ("/etc/escape.bin", {}, "points outside the archive's folder"),
    ("cifar-10-batches-bin/../../escape.bin", {}, "points outside the archive's folder"),
    ("..\\escape.bin", {}, "points outside the archive's folder"),
    ("C:/escape.bin", {}, "points outside the archive's folder"),
])
def test_tar_members_leaving_the_folder_are_refused(tmp_path, name, fields, match):
    _write_cifar_tar(tmp_path / "cifar10", _cifar_batches(), extra=[(name, b"x", fields)])
    with pytest.raises(DataError, match=match):
        load_dataset("cifar10", "test", root=tmp_path)
    assert not (tmp_path / "escape.bin").exists()


def test_a_link_in_place_of_a_batch_is_refused(tmp_path):
    batches = _cifar_batches()
    del batches["test_batch.bin"]
    link = [("cifar-10-batches-bin/test_batch.bin", b"",
             dict(type=tarfile.SYMTYPE, linkname="/etc/passwd"))]
    _write_cifar_tar(tmp_path / "cifar10", batches, extra=link)
    with pytest.raises(DataError, match="is a link or a special file"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_a_truncated_cifar_archive_is_refused(tmp_path):
    _write_cifar_tar(tmp_path / "cifar10", _cifar_batches())
    path = tmp_path / "cifar10" / "cifar-10-binary.tar.gz"
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    with pytest.raises(DataError, match="not a readable tar archive"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_an_oversized_cifar_member_is_refused(tmp_path, monkeypatch):
    from gluon_dl.data.datasets import cifar

    monkeypatch.setattr(cifar, "_LIMIT", 3073 * 2)
    _write_cifar_tar(tmp_path / "cifar10", _cifar_batches())
    with pytest.raises(DataError, match="more than the official file"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_an_archive_that_unpacks_beyond_its_cap_is_refused(tmp_path):
    from gluon_dl.data.datasets._files import tar_members

    _write_cifar_tar(tmp_path / "cifar10", _cifar_batches())
    with pytest.raises(DataError, match="unpacks to more than 0 MiB"):
        tar_members(tmp_path / "cifar10" / "cifar-10-binary.tar.gz", lambda name: False,
                    limit=2 ** 20, total_limit=10_000)
