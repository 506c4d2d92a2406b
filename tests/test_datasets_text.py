"""The text sets in their official formats: The Time Machine, WikiText-2, fra-eng, IMDb.

Tiny files in the official layouts are built in tmp_path.
"""
import io
import tarfile
import zipfile

import numpy as np
import pytest

from gluon_dl.data import load_dataset
from gluon_dl.errors import DataError

BOOK = "\ufeffThe Time Machine, by H. G. Wells\n\n" + "".join(
    f"The Time Traveller spoke, line {i}.\n" for i in range(1, 19))


# ---------------------------------------------------------------- The Time Machine

@pytest.mark.parametrize("name", ["timemachine.txt", "pg35.txt"])
def test_time_machine_reads_the_book(tmp_path, name):
    (tmp_path / "time-machine").mkdir()
    (tmp_path / "time-machine" / name).write_text(BOOK, encoding="utf-8")
    text = load_dataset("time-machine", "all", root=tmp_path)
    assert text == BOOK[1:]  # the byte-order mark is not text
    train = load_dataset("time-machine", "train", root=tmp_path)
    test = load_dataset("time-machine", "test", root=tmp_path)
    assert train + test == text and test == "The Time Traveller spoke, line 17.\n" \
                                             "The Time Traveller spoke, line 18.\n"


@pytest.mark.parametrize("data, match", [
    (b"\xff\xfe\x00T\x00h", "not UTF-8 text"),
    (b"\n\n 123 \n", "holds no English text"),
])
def test_time_machine_refuses_other_files(tmp_path, data, match):
    (tmp_path / "time-machine").mkdir()
    (tmp_path / "time-machine" / "timemachine.txt").write_bytes(data)
    with pytest.raises(DataError, match=match):
        load_dataset("time-machine", root=tmp_path)


# ---------------------------------------------------------------- WikiText-2

WIKI = {split: f" = Valkyria Chronicles {split} = \n The game 's {split} part . \n"
        for split in ("train", "valid", "test")}


def _write_zip(path, members):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _write_wikitext_zip(root, extra=None):
    members = {f"wikitext-2/wiki.{s}.tokens": t for s, t in WIKI.items()}
    _write_zip(root / "wikitext-2" / "wikitext-2-v1.zip", {**members, **(extra or {})})


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_wikitext_reads_the_zip(tmp_path, split):
    _write_wikitext_zip(tmp_path)
    assert load_dataset("wikitext-2", split, root=tmp_path) == WIKI[split]


def test_wikitext_reads_the_extracted_folder(tmp_path):
    folder = tmp_path / "wikitext-2" / "wikitext-2"
    folder.mkdir(parents=True)
    (folder / "wiki.valid.tokens").write_text(WIKI["valid"], encoding="utf-8")
    assert load_dataset("wikitext-2", "valid", root=tmp_path) == WIKI["valid"]


def test_wikitext_zip_with_a_traversal_member_is_refused(tmp_path):
    _write_wikitext_zip(tmp_path, extra={"../../evil.sh": "rm -rf /"})
    with pytest.raises(DataError, match="points outside the archive's folder"):
        load_dataset("wikitext-2", root=tmp_path)
    assert not (tmp_path / "evil.sh").exists()


def test_wikitext_member_beyond_the_cap_is_refused(tmp_path, monkeypatch):
    from gluon_dl.data.datasets import language

    monkeypatch.setattr(language, "_LIMIT", 16)
    _write_wikitext_zip(tmp_path)
    with pytest.raises(DataError, match="wiki.train.tokens unpacks to"):
        load_dataset("wikitext-2", root=tmp_path)


def test_wikitext_raw_version_is_named(tmp_path):
    _write_zip(tmp_path / "wikitext-2" / "wikitext-2-v1.zip",
               {"wikitext-2-raw/wiki.train.raw": "raw"})
    with pytest.raises(DataError, match="has no wikitext-2/wiki.train.tokens.*raw"):
        load_dataset("wikitext-2", root=tmp_path)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    (tmp_path / "wikitext-2").mkdir()
    (tmp_path / "wikitext-2" / "wikitext-2-v1.zip").write_bytes(b"PK but not really")
    with pytest.raises(DataError, match="not a readable zip archive"):
        load_dataset("wikitext-2", root=tmp_path)


# ---------------------------------------------------------------- fra-eng

def _fra_lines(n, attribution=True):
    tail = "\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM)" if attribution else ""
    return "".join(f"Go {i}.\tVa {i} !{tail}\n" for i in range(n))


@pytest.mark.parametrize("form", ["manythings-zip", "d2l-zip", "txt"])
def test_fra_eng_reads_pairs(tmp_path, form):
    folder = tmp_path / "fra-eng"
    if form == "manythings-zip":
        _write_zip(folder / "fra-eng.zip", {"fra.txt": _fra_lines(20), "_about.txt": "About"})
    elif form == "d2l-zip":
        _write_zip(folder / "fra-eng.zip", {"fra-eng/fra.txt": _fra_lines(20, False)})
    else:
        folder.mkdir()
        (folder / "fra.txt").write_text(_fra_lines(20) + "\n", encoding="utf-8")
    pairs = load_dataset("fra-eng", "all", root=tmp_path)
    assert pairs[0] == ("Go 0.", "Va 0 !") and len(pairs) == 20
    test = load_dataset("fra-eng", "test", root=tmp_path)
    train = load_dataset("fra-eng", "train", root=tmp_path)
    assert test == [pairs[9], pairs[19]] and len(train) == 18 and not set(train) & set(test)


def test_fra_eng_line_without_a_tab_is_named(tmp_path):
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_text("Go.\tVa !\nHi. Salut !\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2 has no tab"):
        load_dataset("fra-eng", root=tmp_path)


def test_fra_eng_without_pairs_is_refused(tmp_path):
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match="holds no sentence pairs"):
        load_dataset("fra-eng", root=tmp_path)


def test_fra_eng_zip_without_fra_txt_is_refused(tmp_path):
    _write_zip(tmp_path / "fra-eng" / "fra-eng.zip", {"deu.txt": "Go.\tGeh.\n"})
    with pytest.raises(DataError, match="holds 0 files named fra.txt"):
        load_dataset("fra-eng", root=tmp_path)


# ---------------------------------------------------------------- IMDb

REVIEWS = {
    "aclImdb/train/pos/0_9.txt": "A wonderful film.",
    "aclImdb/train/pos/10_8.txt": "Loved it.",
    "aclImdb/train/pos/2_7.txt": "Good <br /><br />acting.",
    "aclImdb/train/neg/1_1.txt": "Dreadful.",
    "aclImdb/train/neg/3_2.txt": "Boring.",
    "aclImdb/train/unsup/0_0.txt": "Unlabelled.",
    "aclImdb/train/urls_pos.txt": "http://www.imdb.com/title/tt0453418/usercomments",
    "aclImdb/test/pos/0_10.txt": "Superb.",
    "aclImdb/test/neg/0_2.txt": "Awful.",
    "aclImdb/README": "Large Movie Review Dataset v1.0",
}


def _write_imdb_tar(root, reviews):
    (root / "imdb").mkdir(parents=True, exist_ok=True)
    with tarfile.open(root / "imdb" / "aclImdb_v1.tar.gz", "w:gz") as tar:
        for name, text in reviews.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_imdb_reads_the_tar_sorted_by_label_and_id(tmp_path):
    _write_imdb_tar(tmp_path, REVIEWS)
    texts, labels = load_dataset("imdb", "train", root=tmp_path)
    assert texts == ["Dreadful.", "Boring.", "A wonderful film.", "Good <br /><br />acting.",
                     "Loved it."]
    assert labels.dtype == np.int32 and labels.tolist() == [0, 0, 1, 1, 1]
    texts, labels = load_dataset("imdb", "test", root=tmp_path)
    assert texts == ["Awful.", "Superb."] and labels.tolist() == [0, 1]


def test_imdb_reads_the_extracted_folder(tmp_path):
    for name, text in REVIEWS.items():
        path = tmp_path / "imdb" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    texts, labels = load_dataset("imdb", "test", root=tmp_path)
    assert texts == ["Awful.", "Superb."] and labels.tolist() == [0, 1]


def test_imdb_without_one_class_is_refused(tmp_path):
    _write_imdb_tar(tmp_path, {k: v for k, v in REVIEWS.items() if "/test/neg/" not in k})
    with pytest.raises(DataError, match="no neg reviews for split 'test'"):
        load_dataset("imdb", "test", root=tmp_path)


def test_imdb_review_that_is_not_utf8_is_refused(tmp_path):
    _write_imdb_tar(tmp_path, REVIEWS)
    path = tmp_path / "imdb" / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("aclImdb/test/pos/5_9.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"\xff\xfe"))
    with pytest.raises(DataError, match="5_9.txt is not UTF-8 text"):
        load_dataset("imdb", "test", root=tmp_path)
