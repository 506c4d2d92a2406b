"""The Large Movie Review Dataset (IMDb) for sentiment analysis.

``aclImdb_v1.tar.gz`` holds ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``,
one review a file, 12,500 per class and split; the unlabelled reviews
(``train/unsup``) and the bag-of-words files are not read.
"""
import re

import numpy as np

from ...errors import DataError
from ._files import MiB, decode_text, read_file, tar_members
from ._registry import DatasetInfo, missing_error, register_dataset

ARCHIVE, FOLDER = "aclImdb_v1.tar.gz", "aclImdb"
LABELS = ("neg", "pos")
_REVIEW = re.compile(r"aclImdb/(train|test)/(neg|pos)/(\d+)_(\d+)\.txt\Z")
_LIMIT = 1 * MiB  # the longest official review is 14 KiB

IMDB = DatasetInfo(
    name="imdb", kind="text", files=(ARCHIVE,), alternatives=(f"its extracted {FOLDER}/",),
    classes=("negative", "positive"),
    source="the Large Movie Review Dataset v1.0 from Andrew Maas' page at Stanford AI Lab",
    lesson="Natural language processing: sentiment analysis (RNNs, textCNN, fine-tuning BERT)")


@register_dataset(IMDB)
def imdb(split, folders):
    """``(texts, labels)``: the reviews as str and int32 labels, 0 negative, 1 positive.

    Defined for the lessons on sentiment analysis with RNNs, textCNN and BERT.
    Ordered by label, then by review id, so every run sees the same order.
    """
    for folder in folders:
        if (folder / FOLDER).is_dir():
            return _labelled(_from_folder(folder, split), folder / FOLDER, split)
        if (folder / ARCHIVE).is_file():
            return _labelled(_from_archive(folder / ARCHIVE, split), folder / ARCHIVE, split)
    raise missing_error(IMDB, folders, split)


def _from_archive(path, split):
    members = tar_members(path, lambda name: _split_of(name) == split, _LIMIT)
    return {name: decode_text(data, f"{path}: member {name}") for name, data in members.items()}


def _from_folder(folder, split):
    reviews = {}
    for label in LABELS:
        for path in (folder / FOLDER / split / label).glob("*.txt"):
            name = path.relative_to(folder).as_posix()
            if _REVIEW.match(name):
                reviews[name] = decode_text(read_file(path, _LIMIT), str(path))
    return reviews


def _split_of(name):
    match = _REVIEW.match(name)
    return match.group(1) if match else None


def _labelled(reviews, where, split):
    """``(texts, labels)`` of ``{member name: text}``, sorted by label and review id."""
    keyed = []
    for name, text in reviews.items():
        _, label, review_id, _ = _REVIEW.match(name).groups()
        keyed.append((LABELS.index(label), int(review_id), text))
    keyed.sort(key=lambda item: item[:2])
    labels = np.array([k[0] for k in keyed], dtype=np.int32)
    for value, label in enumerate(LABELS):
        if not np.any(labels == value):
            raise DataError(f"{where} holds no {label} reviews for split '{split}' (expected "
                            f"{FOLDER}/{split}/{label}/<id>_<rating>.txt); it is incomplete, "
                            f"download {ARCHIVE} again")
    return [k[2] for k in keyed], labels
