"""The text toolkit: tokens, vocabularies, padding, language-model batches and python-docs."""
import json

import numpy as np
import pytest

from gluon_dl.data import (LMLoader, Vocab, build_array, dataset_info, lm_corpus, load_data_lm,
                           load_dataset, normalize_text, seq_data_iter_random,
                           seq_data_iter_sequential, tokenize, truncate_pad)
from gluon_dl.errors import ArgumentError, ArgumentTypeError, DataError

LINES = ["the time machine by h g wells", "the time traveller", "was expounding"]


# ---------------------------------------------------------------- tokens

def test_tokenize_words_and_characters():
    assert tokenize(LINES)[1] == ["the", "time", "traveller"]
    assert tokenize("a  b\tc") == [["a", "b", "c"]]
    assert tokenize(["ab c"], token="char") == [["a", "b", " ", "c"]]
    assert tokenize([]) == []


@pytest.mark.parametrize("lines, token, error, match", [
    (LINES, "bpe", ArgumentError, "word, char"),
    (42, "word", ArgumentTypeError, "str or a list of str"),
    (["ok", 3], "word", ArgumentTypeError, "line 1 is a int"),
])
def test_tokenize_refuses_bad_input(lines, token, error, match):
    with pytest.raises(error, match=match):
        tokenize(lines, token)


def test_normalize_text_keeps_letters_and_spaces_lowercase():
    assert normalize_text("The Time-Machine, 1895!\n\n  by H. G. Wells  \n") == \
        ["the time machine", "by h g wells"]
    assert set("".join(normalize_text(load_dataset("python-docs", "test")))) <= \
        set("abcdefghijklmnopqrstuvwxyz ")


# ---------------------------------------------------------------- vocabulary

def test_vocab_order_unk_reserved_then_by_count_ties_by_token():
    tokens = tokenize(["b a c c", "d c b"])
    vocab = Vocab(tokens, reserved_tokens=["<pad>", "<bos>", "<eos>"])
    assert vocab.idx_to_token == ["<unk>", "<pad>", "<bos>", "<eos>", "c", "b", "a", "d"]
    assert vocab.token_freqs == [("c", 3), ("b", 2), ("a", 1), ("d", 1)]
    assert len(vocab) == 8 and vocab.unk == 0
    assert all(vocab.token_to_idx[t] == i for i, t in enumerate(vocab.idx_to_token))
    # A flat list counts like the list of lines.
    assert Vocab([t for line in tokens for t in line]).idx_to_token == \
        ["<unk>", "c", "b", "a", "d"]


def test_vocab_lookups_both_ways_and_unknowns():
    vocab = Vocab(tokenize(LINES))
    assert vocab["the"] == 1 and vocab["time"] == 2  # the two words seen twice
    assert vocab["dinosaur"] == 0 and vocab[["the", ["dinosaur", "time"]]] == [1, [0, 2]]
    assert vocab.to_tokens([1, 2, 0]) == ["the", "time", "<unk>"]
    assert vocab.to_tokens(np.array([1, 2])) == ["the", "time"]
    assert "the" in vocab and "dinosaur" not in vocab
    with pytest.raises(ArgumentError, match="no index of this vocabulary"):
        vocab.to_tokens(len(vocab))


def test_vocab_min_freq_drops_rare_tokens_but_keeps_their_counts():
    vocab = Vocab(tokenize(LINES), min_freq=2)
    assert vocab.idx_to_token == ["<unk>", "the", "time"]
    assert vocab["wells"] == 0 and ("wells", 1) in vocab.token_freqs
    assert len(Vocab(tokenize(LINES), min_freq=0)) == len(Vocab(tokenize(LINES), min_freq=1))


def test_reserved_tokens_in_the_corpus_are_not_listed_twice():
    vocab = Vocab(["<pad>", "x", "<unk>", "x"], reserved_tokens=["<pad>"])
    assert vocab.idx_to_token == ["<unk>", "<pad>", "x"]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"min_freq": -1}, ArgumentError, "min_freq"),
    ({"min_freq": 1.5}, ArgumentError, "min_freq"),
    ({"reserved_tokens": ["<pad>", "<pad>"]}, ArgumentError, "distinct"),
    ({"reserved_tokens": ["<unk>"]}, ArgumentError, "always index 0"),
    ({"reserved_tokens": "<pad>"}, ArgumentTypeError, "list of str"),
    ({"tokens": "a b c"}, ArgumentTypeError, "list of str"),
    ({"tokens": ["a", 1]}, ArgumentTypeError, "found 1"),
])
def test_vocab_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Vocab(**kwargs)


def test_vocab_round_trips_through_json():
    vocab = Vocab(tokenize(LINES), min_freq=2, reserved_tokens=["<pad>", "<eos>"])
    again = Vocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again == vocab and again.idx_to_token == vocab.idx_to_token
    assert again.token_freqs == vocab.token_freqs and again.min_freq == 2


@pytest.mark.parametrize("data", [
    [], {"format": "other"}, {"format": "gluon-dl-vocab/1", "min_freq": 0,
                              "reserved_tokens": [], "token_freqs": [["a", 0]]},
    {"format": "gluon-dl-vocab/1", "min_freq": 0, "reserved_tokens": [],
     "token_freqs": [["a", 1], ["a", 2]]},
    {"format": "gluon-dl-vocab/1", "min_freq": -3, "reserved_tokens": [], "token_freqs": []},
])
def test_vocab_from_dict_refuses_what_to_dict_did_not_write(data):
    with pytest.raises(DataError, match="not a vocabulary written by Vocab.to_dict"):
        Vocab.from_dict(data)


def test_vocab_orders_like_gluonnlp():
    gluonnlp = pytest.importorskip("gluonnlp")
    tokens = [t for line in tokenize(normalize_text(load_dataset("python-docs", "test")))
              for t in line]
    ours = Vocab(tokens, min_freq=2, reserved_tokens=["<pad>", "<bos>", "<eos>"])
    theirs = gluonnlp.Vocab(gluonnlp.data.count_tokens(tokens), min_freq=2, padding_token=None,
                            bos_token=None, eos_token=None,
                            reserved_tokens=["<pad>", "<bos>", "<eos>"])
    assert ours.idx_to_token == theirs.idx_to_token


# ---------------------------------------------------------------- padding

def test_truncate_pad_and_build_array():
    assert truncate_pad([1, 2], 4, 0) == [1, 2, 0, 0]
    assert truncate_pad(range(6), 3, 0) == [0, 1, 2]
    vocab = Vocab(tokenize(LINES), reserved_tokens=["<pad>", "<bos>", "<eos>"])
    array, valid = build_array(tokenize(["the time", "the time machine by h g wells"]), vocab, 5)
    pad, eos = vocab["<pad>"], vocab["<eos>"]
    assert array.dtype == valid.dtype == np.int32 and array.shape == (2, 5)
    assert array[0].tolist() == [vocab["the"], vocab["time"], eos, pad, pad]
    assert array[1].tolist() == vocab["the time machine by h".split()]
    assert valid.tolist() == [3, 5]
    assert build_array([["the"]], vocab, 3, eos=None)[1].tolist() == [1]
    with pytest.raises(ArgumentError, match="has no '<eos>'"):
        build_array([["the"]], Vocab(["the"]), 3)
    with pytest.raises(ArgumentError, match="num_steps"):
        truncate_pad([1], 0, 0)


# ---------------------------------------------------------------- language-model batches

CORPUS = np.arange(1000, dtype=np.int32)  # token i is i: windows show where they came from


@pytest.mark.parametrize("random", [True, False])
def test_lm_batches_are_shifted_by_one_and_the_same_every_epoch_length(random):
    loader = LMLoader(CORPUS, 4, 7, random=random, seed=3, as_ndarray=False)
    for epoch in range(5):
        batches = list(loader.batches(epoch))
        assert len(batches) == len(loader)
        for X, Y in batches:
            assert X.shape == Y.shape == (4, 7) and X.dtype == Y.dtype == np.int32
            np.testing.assert_array_equal(Y, X + 1)  # Y is X one token on
            np.testing.assert_array_equal(np.diff(X, axis=1), 1)  # contiguous windows


def test_random_sampling_covers_the_corpus_with_disjoint_windows():
    loader = LMLoader(CORPUS, 4, 7, random=True, seed=0, as_ndarray=False)
    assert len(loader) == (1000 - 7) // 7 // 4
    starts = [np.concatenate([X[:, 0] for X, _ in loader.batches(e)]) for e in range(3)]
    for s in starts:
        assert len(set(s)) == len(s) == len(loader) * 4
        assert len(set(s % 7)) == 1  # one offset per epoch, windows on its grid
        assert (s + 7 < 1000).all()
    assert not np.array_equal(starts[0], starts[1])  # reshuffled every epoch
    # nearly every token is read: at most the offset, the tail and one short batch are left
    assert len(loader) * 4 * 7 > 1000 - 7 - 4 * 7 - 7


def test_sequential_partitioning_continues_each_row():
    loader = LMLoader(CORPUS, 4, 7, random=False, seed=0, as_ndarray=False)
    batches = list(loader.batches(0))
    assert len(loader) == (1000 - 7 - 1) // 4 // 7
    for (X0, Y0), (X1, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(X1[:, 0], Y0[:, -1])
    rows = np.concatenate([X for X, _ in batches], axis=1)
    row_len = rows[1, 0] - rows[0, 0]
    np.testing.assert_array_equal(np.diff(rows[:, 0]), row_len)  # rows are equal parts
    assert row_len >= rows.shape[1] and 0 <= rows[0, 0] <= 7


@pytest.mark.parametrize("random", [True, False])
def test_lm_loader_resumes_mid_epoch_in_the_same_order(random):
    loader = LMLoader(CORPUS, 3, 5, random=random, seed=7, as_ndarray=False)
    whole = list(loader.batches(2))
    resumed = list(loader.batches(2, start=4))
    assert len(resumed) == len(whole) - 4
    for (a, b), (c, d) in zip(whole[4:], resumed):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    other_seed = next(LMLoader(CORPUS, 3, 5, random=random, seed=8, as_ndarray=False)
                      .batches(2))[0]
    assert not np.array_equal(whole[0][0], other_seed)


def test_iterators_are_the_loader_of_epoch_zero():
    for fn, random in ((seq_data_iter_random, True), (seq_data_iter_sequential, False)):
        mine = [X for X, _ in fn(CORPUS, 2, 5, seed=4)]
        loader = LMLoader(CORPUS, 2, 5, random=random, seed=4, as_ndarray=False)
        assert len(mine) == len(loader)
        np.testing.assert_array_equal(mine[3], list(loader.batches(0))[3][0])


def test_sharded_lm_loaders_split_each_batch():
    whole = next(LMLoader(CORPUS, 4, 5, seed=1, as_ndarray=False).batches(0))[0]
    parts = [next(LMLoader(CORPUS, 4, 5, seed=1, as_ndarray=False, num_shards=2,
                           shard=k).batches(0))[0] for k in range(2)]
    np.testing.assert_array_equal(parts[0], whole[0::2])
    np.testing.assert_array_equal(parts[1], whole[1::2])


def test_lm_loader_yields_ndarrays_by_default():
    X, Y = next(iter(LMLoader(CORPUS, 2, 3)))
    assert X.shape == (2, 3) and str(np.dtype(X.dtype)) == "int32"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"corpus": np.arange(19)}, ArgumentError, "needs at least 20 tokens"),
    ({"corpus": np.arange(20), "random": False}, ArgumentError, "needs at least 21 tokens"),
    ({"num_steps": 0}, ArgumentError, "num_steps must be a whole number"),
    ({"batch_size": 2.0}, ArgumentError, "batch_size"),
    ({"seed": -1}, ArgumentError, "seed"),
    ({"num_shards": 2, "shard": 2}, ArgumentError, "shard 2"),
    ({"corpus": np.zeros((4, 5), np.int32)}, ArgumentTypeError, "flat sequence"),
    ({"corpus": np.linspace(0, 1, 50)}, ArgumentTypeError, "integer token indices"),
])
def test_lm_loader_refuses_bad_arguments(kwargs, error, match):
    kwargs = {"corpus": CORPUS, "batch_size": 3, "num_steps": 5, **kwargs}
    with pytest.raises(error, match=match):
        LMLoader(**kwargs)


def test_a_fixed_offset_reads_the_same_windows_every_epoch():
    loader = LMLoader(CORPUS, 4, 7, random=False, offset=0, as_ndarray=False)
    first = [X for X, _ in loader.batches(0)]
    assert first[0][0, 0] == 0 and len(first) == 999 // 4 // 7
    for epoch in (1, 5):
        for a, (b, _) in zip(first, loader.batches(epoch)):
            np.testing.assert_array_equal(a, b)
    shuffled = LMLoader(CORPUS, 4, 7, random=True, offset=3, as_ndarray=False)
    assert all((X[:, 0] % 7 == 3).all() for X, _ in shuffled.batches(2))
    with pytest.raises(ArgumentError, match="offset must be None or an integer >= 0"):
        LMLoader(CORPUS, 4, 7, offset=-1)


def test_smallest_corpus_makes_exactly_one_batch():
    for random, need in ((True, 24), (False, 25)):
        assert len(LMLoader(np.arange(need), 3, 6, random=random)) == 1
        with pytest.raises(ArgumentError, match="makes no batch of 3 x 6"):
            LMLoader(np.arange(need - 1), 3, 6, random=random)
        assert all(len(list(LMLoader(np.arange(need), 3, 6, random=random, seed=s,
                                     as_ndarray=False).batches(0))) == 1 for s in range(8))


# ---------------------------------------------------------------- load_data_lm and python-docs

def test_load_data_lm_on_python_docs_characters():
    loader, vocab = load_data_lm("python-docs", 32, 35, max_tokens=10000)
    assert len(vocab) == 28 and vocab.idx_to_token[1] == " "  # 26 letters, space, <unk>
    assert len(loader.corpus) == 10000 and len(loader) == (10000 - 35) // 35 // 32
    X, Y = next(loader.batches(0))
    assert X.shape == (32, 35)
    text = "".join(vocab.to_tokens(X.asnumpy()[0].tolist()))
    assert text in " ".join(normalize_text(load_dataset("python-docs")))


def test_load_data_lm_words_text_and_a_shared_vocab():
    train, vocab = load_data_lm("python-docs", 8, 10, token="word")
    assert len(vocab) > 2000 and vocab.idx_to_token[1] == "the"
    test, same = load_data_lm("python-docs", 8, 10, token="word", vocab=vocab, split="test")
    assert same is vocab and 0 < (test.corpus == 0).mean() < 0.05  # a few unseen words
    corpus, words = lm_corpus("Hello, hello world!\nWorld", token="word")
    assert words.idx_to_token == ["<unk>", "hello", "world"]
    assert corpus.tolist() == [1, 1, 2, 2]
    chars, _ = lm_corpus("ab\ncd", token="char")
    assert len(chars) == 5  # lines joined by a space


@pytest.mark.parametrize("args, kwargs, error, match", [
    (("python-docs", 4, 5), {"token": "bpe"}, ArgumentError, "word, char"),
    (("iris", 4, 5), {}, ArgumentError, "tabular set"),
    (("fra-eng", 4, 5), {}, ArgumentError, "not one text"),
    (("1234 !!", 4, 5), {}, DataError, "no letters"),
    ((b"bytes", 4, 5), {}, ArgumentTypeError, "text or a data set name"),
    (("python-docs", 4, 5), {"vocab": {"a": 1}}, ArgumentTypeError, "gluon_dl.data.Vocab"),
    (("python-docs", 4, 5), {"max_tokens": 0}, ArgumentError, "max_tokens"),
])
def test_load_data_lm_refuses_bad_input(args, kwargs, error, match, tmp_path):
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_text("Go.\tVa !\n" * 20, encoding="utf-8")
    with pytest.raises(error, match=match):
        load_data_lm(*args, root=tmp_path, **kwargs)


def test_python_docs_is_offline_english_with_a_fixed_split():
    info = dataset_info("python-docs")
    assert info.embedded and info.kind == "text" and "pydoc_data" in info.source
    text, train, test = (load_dataset("python-docs", s) for s in ("all", "train", "test"))
    assert isinstance(text, str) and len(text) > 300_000
    assert train + test == text and 0.05 < len(test) / len(text) < 0.2
    assert load_dataset("python-docs", "test") == test
    words = text.lower().split()
    assert words.count("the") > 0.03 * len(words)  # English prose, not code
