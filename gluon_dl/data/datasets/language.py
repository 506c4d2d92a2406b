"""Corpora for language models: The Time Machine and WikiText-2.

Both load as one str, the raw text: tokenizing and building a vocabulary
belong to the lesson, not to the reader.
"""
import re

from ...errors import DataError
from ._files import MiB, decode_text, find, read_file, zip_members
from ._registry import DatasetInfo, missing_error, register_dataset

TIME_MACHINE_FILES = ("timemachine.txt", "pg35.txt")
WIKITEXT_ARCHIVE, WIKITEXT_FOLDER = "wikitext-2-v1.zip", "wikitext-2"
_LIMIT = 64 * MiB  # The Time Machine is 0.2 MiB, WikiText-2's training part 10.4 MiB
_HELD_OUT = 0.1  # the last tenth of The Time Machine's lines is its test split

TIME_MACHINE = DatasetInfo(
    name="time-machine", kind="text", files=(TIME_MACHINE_FILES[0],),
    alternatives=(TIME_MACHINE_FILES[1],), splits=("train", "test", "all"),
    source="H. G. Wells' The Time Machine as plain text: the course's timemachine.txt, or "
           "Project Gutenberg's eBook #35",
    lesson="Recurrent neural networks: text preprocessing and language models")

WIKITEXT_2 = DatasetInfo(
    name="wikitext-2", kind="text", files=(WIKITEXT_ARCHIVE,),
    alternatives=(f"its extracted {WIKITEXT_FOLDER}/wiki.{{train,valid,test}}.tokens",),
    splits=("train", "valid", "test"),
    source="the WikiText-2 word-level version (v1) from Salesforce Research's WikiText page",
    lesson="Natural language processing: pretraining BERT and word-level language models")


@register_dataset(TIME_MACHINE)
def time_machine(split, folders):
    """The Time Machine as one str.

    Defined for the lessons on text preprocessing, language models and RNNs.
    The book has no official split: ``"all"`` is the whole text (what the
    course trains on), ``"train"`` its first nine tenths of lines, ``"test"``
    the rest.
    """
    path = find(folders, *TIME_MACHINE_FILES)
    if path is None:
        raise missing_error(TIME_MACHINE, folders)
    text = _checked_text(read_file(path, _LIMIT), path)
    if split == "all":
        return text
    lines = text.splitlines(keepends=True)
    cut = len(lines) - max(1, round(len(lines) * _HELD_OUT))
    return "".join(lines[:cut] if split == "train" else lines[cut:])


@register_dataset(WIKITEXT_2)
def wikitext_2(split, folders):
    """One part of WikiText-2 as one str of space-separated tokens, a line per paragraph.

    Defined for the lessons on pretraining BERT and word-level language models.
    """
    name = f"wiki.{split}.tokens"
    path = find(folders, f"{WIKITEXT_FOLDER}/{name}", name, WIKITEXT_ARCHIVE)
    if path is None:
        raise missing_error(WIKITEXT_2, folders, split)
    if path.name != WIKITEXT_ARCHIVE:
        return _checked_text(read_file(path, _LIMIT), path)
    member = f"{WIKITEXT_FOLDER}/{name}"
    members = zip_members(path, member.__eq__, _LIMIT)
    if member not in members:
        raise DataError(f"{path} has no {member}; it is not the official {WIKITEXT_ARCHIVE} "
                        f"(the raw-character version is wikitext-2-raw-v1.zip), download it again")
    return _checked_text(members[member], f"{path}: member {member}")


def _checked_text(data, what):
    text = decode_text(data, what)
    if not re.search(r"[A-Za-z]", text):
        raise DataError(f"{what} holds no English text; replace it with the official file")
    return text
