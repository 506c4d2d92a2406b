"""English-French sentence pairs for machine translation.

``fra.txt`` (inside ``fra-eng.zip``) has one pair a line: the English
sentence, a tab, the French sentence, and in the files of the Tatoeba
project's export a third column with the attribution, which is dropped.
"""
from pathlib import PurePosixPath

from ...errors import DataError
from ._files import MiB, decode_text, find, read_file, zip_members
from ._registry import DatasetInfo, missing_error, register_dataset

ARCHIVE, TEXT = "fra-eng.zip", "fra.txt"
_LIMIT = 256 * MiB  # the largest export so far is about 40 MiB
_TEST_EVERY = 10  # every tenth pair is held out

FRA_ENG = DatasetInfo(
    name="fra-eng", kind="text", files=(ARCHIVE,), alternatives=(TEXT,),
    splits=("train", "test", "all"),
    source="English-French sentence pairs of the Tatoeba project: the course's fra-eng.zip, "
           "or fra-eng.zip from manythings.org's Anki pages",
    lesson="Modern RNNs and attention: machine translation (seq2seq, Transformer)")


@register_dataset(FRA_ENG)
def fra_eng(split, folders):
    """``[(english, french), ...]`` sentence pairs, in the file's order.

    Defined for the lessons on machine translation: sequence to sequence
    learning, Bahdanau attention and the Transformer.  The file has no
    official split: ``"test"`` is every tenth pair (the file is sorted by
    length, so both parts span every length), ``"train"`` the others.
    """
    path = find(folders, f"fra-eng/{TEXT}", TEXT, ARCHIVE)
    if path is None:
        raise missing_error(FRA_ENG, folders)
    if path.name == ARCHIVE:
        data, what = _from_archive(path)
    else:
        data, what = read_file(path, _LIMIT), str(path)
    pairs = parse_pairs(decode_text(data, what), what)
    if split == "test":
        return pairs[_TEST_EVERY - 1::_TEST_EVERY]
    if split == "train":
        return [p for i, p in enumerate(pairs) if i % _TEST_EVERY != _TEST_EVERY - 1]
    return pairs


def parse_pairs(text, what):
    """The ``(source, target)`` pairs of tab-separated ``text``; blank lines are skipped."""
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"{what}: line {number} has no tab between the English and the "
                            f"French sentence: {line[:60]!r}; replace the file with {TEXT}")
        pairs.append((fields[0], fields[1]))
    if not pairs:
        raise DataError(f"{what} holds no sentence pairs; replace it with the official {TEXT}")
    return pairs


def _from_archive(path):
    """The bytes of the one ``fra.txt`` of the archive, at its top or one folder down."""
    members = zip_members(path, lambda name: PurePosixPath(name).name == TEXT
                          and len(PurePosixPath(name).parts) <= 2, _LIMIT)
    if len(members) != 1:
        raise DataError(f"{path} holds {len(members)} files named {TEXT} (expected one, as in "
                        f"the official {ARCHIVE}); download it again")
    (name, data), = members.items()
    return data, f"{path}: member {name}"
