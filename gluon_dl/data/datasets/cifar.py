"""CIFAR-10 from its official binary version.

``cifar-10-binary.tar.gz`` holds ``cifar-10-batches-bin/`` with
``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``: records
of one label byte then 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue,
row by row).  The "python" version stores pickles, and unpickling a file
can run any code: it is never read; finding it is an error that names the
binary file instead.
"""
import numpy as np

from ...errors import DataError
from ._files import MiB, find, read_file, tar_members
from ._registry import DatasetInfo, missing_error, register_dataset

ARCHIVE, FOLDER = "cifar-10-binary.tar.gz", "cifar-10-batches-bin"
PICKLED = ("cifar-10-python.tar.gz", "cifar-10-batches-py")
RECORD = 1 + 3 * 32 * 32
_BATCHES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
            "test": ("test_batch.bin",)}
_LIMIT = 64 * MiB  # an official batch is 10,000 records, 29.3 MiB

CIFAR10 = DatasetInfo(
    name="cifar10", kind="image", files=(ARCHIVE,), alternatives=(f"its extracted {FOLDER}/",),
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"),
    source="the binary version from Alex Krizhevsky's CIFAR page (CIFAR-10, University of "
           "Toronto)",
    lesson="Computer vision: image augmentation and ResNets on CIFAR-10")


@register_dataset(CIFAR10)
def cifar10(split, folders):
    """CIFAR-10: ``X`` uint8 ``(N, 32, 32, 3)`` (height, width, RGB), ``y`` int32 ``(N,)``.

    Defined for the lessons on image augmentation and on ResNets for CIFAR-10.
    50,000 training images (the five data batches in order) and 10,000 test
    images.
    """
    names = _BATCHES[split]
    for folder in folders:
        if (folder / FOLDER).is_dir():
            return _records({n: read_file(folder / FOLDER / n, _LIMIT) for n in names},
                            folder / FOLDER)
        if (folder / ARCHIVE).is_file():
            return _records(_from_archive(folder / ARCHIVE, names), folder / ARCHIVE)
    pickled = find(folders, *PICKLED)
    if pickled:
        raise DataError(f"{pickled} is CIFAR-10's pickled 'python' version, which is never "
                        f"read (unpickling runs code); place the binary version {ARCHIVE} "
                        f"from Alex Krizhevsky's CIFAR page in {pickled.parent}")
    raise missing_error(CIFAR10, folders, split)


def _from_archive(archive, names):
    wanted = {f"{FOLDER}/{n}": n for n in names}
    members = tar_members(archive, wanted.__contains__, _LIMIT)
    missing = [m for m in wanted if m not in members]
    if missing:
        raise DataError(f"{archive} has no {', '.join(missing)}; it is not the official "
                        f"{ARCHIVE}, download it again")
    return {wanted[m]: members[m] for m in wanted}


def _records(batches, where):
    """``(X, y)`` of the batches ``{name: bytes}``, in the order given."""
    X, y = [], []
    for name, data in batches.items():
        if not data or len(data) % RECORD:
            raise DataError(f"{where}: {name} holds {len(data)} bytes, not a whole number of "
                            f"{RECORD}-byte records (1 label + 3,072 pixels); it is truncated "
                            f"or not the binary version, download it again")
        records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
        if records[:, 0].max() > 9:
            raise DataError(f"{where}: {name} has label {records[:, 0].max()}, CIFAR-10's are "
                            f"0-9; it is not a CIFAR-10 batch (CIFAR-100 has 2 label bytes)")
        X.append(records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        y.append(records[:, 0])
    return np.ascontiguousarray(np.concatenate(X)), np.concatenate(y).astype(np.int32)
