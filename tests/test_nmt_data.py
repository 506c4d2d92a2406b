"""Translation batches: cleaning, tokens, padding, teacher forcing, and fit training on them."""
import numpy as np
import pytest

from gluon_dl.data import Vocab, addition_pairs, reverse_pairs
from gluon_dl.data.nmt import (build_array_nmt, load_data_nmt, nmt_arrays, preprocess_nmt,
                               tokenize_nmt)
from gluon_dl.errors import ArgumentError, ArgumentTypeError, UnknownNameError

FRA = ("Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM)\n"
       "Hi.\tSalut !\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123 (CM)\n"
       "Run!\tCours\u202f!\tCC-BY 2.0 (France) Attribution: tatoeba.org #906328 (sacredceltic)\n"
       "Who?\tQui ?\tCC-BY 2.0 (France) Attribution: tatoeba.org #2083030 (CK)\n") * 5


def test_preprocess_nmt_separates_punctuation_and_lowercases():
    assert preprocess_nmt("Go.") == "go ."
    assert preprocess_nmt("Cours\u202f!") == "cours !"
    assert preprocess_nmt("Hi, Tom!\xa0Ok?") == "hi , tom ! ok ?"
    assert preprocess_nmt("Wait !") == "wait !"  # already spaced: unchanged


def test_tokenize_nmt_words_chars_and_token_lists():
    source, target = tokenize_nmt([("Go.", "Va !"), ("Hi.", "Salut !")])
    assert source == [["go", "."], ["hi", "."]] and target == [["va", "!"], ["salut", "!"]]
    source, target = tokenize_nmt(addition_pairs(3, digits=2, seed=0), token="char")
    a, b = addition_pairs(3, digits=2, seed=0)[0]
    assert source[0] == list(a) and target[0] == list(b)
    source, target = tokenize_nmt([([3, 1, 2], [2, 1, 3])] * 4, num_examples=2)
    assert source == [["3", "1", "2"]] * 2 and target == [["2", "1", "3"]] * 2


def test_build_array_nmt_appends_eos_pads_and_truncates():
    vocab = Vocab([["a", "b", "c"]], reserved_tokens=["<pad>", "<bos>", "<eos>"])
    array, valid = build_array_nmt([["a", "b"], ["a", "b", "c", "a", "b"]], vocab, 4)
    pad, eos, a, b, c = vocab[["<pad>", "<eos>", "a", "b", "c"]]
    assert array.tolist() == [[a, b, eos, pad], [a, b, c, a]]
    assert valid.tolist() == [3, 4] and array.dtype == valid.dtype == np.int32


def test_loader_batches_are_teacher_forced_and_consistent():
    pairs = reverse_pairs(100, length=(2, 6), vocab_size=8, seed=1)
    loader, src_vocab, tgt_vocab = load_data_nmt(pairs, 16, 8, num_examples=None,
                                                 as_ndarray=False, shuffle=False)
    assert src_vocab.idx_to_token[:4] == ["<unk>", "<pad>", "<bos>", "<eos>"]
    assert len(loader) == 7
    (src, dec_in, src_valid), (label, label_valid) = next(iter(loader))
    assert src.shape == dec_in.shape == label.shape == (16, 8)
    assert src_valid.shape == label_valid.shape == (16,)
    assert all(a.dtype == np.int32 for a in (src, dec_in, src_valid, label, label_valid))
    bos, eos, pad = tgt_vocab["<bos>"], tgt_vocab["<eos>"], tgt_vocab["<pad>"]
    assert (dec_in[:, 0] == bos).all() and (dec_in[:, 1:] == label[:, :-1]).all()
    for i, (s, t) in enumerate(pairs[:16]):
        assert src_vocab.to_tokens(src[i, :len(s)].tolist()) == [str(x) for x in s]
        assert tgt_vocab.to_tokens(label[i, :len(t)].tolist()) == [str(x) for x in t]
        assert src_valid[i] == len(s) + 1 and label_valid[i] == len(t) + 1
        assert label[i, len(t)] == eos and (label[i, len(t) + 1:] == pad).all()
    # held-out pairs reuse the training vocabularies
    test, sv, tv = load_data_nmt(reverse_pairs(10, seed=2), 5, 8, src_vocab=src_vocab,
                                 tgt_vocab=tgt_vocab, as_ndarray=False)
    assert sv is src_vocab and tv is tgt_vocab and len(test) == 2


def test_loader_order_is_a_function_of_the_seed():
    pairs = reverse_pairs(64, seed=0)
    first = [b[0][0] for b in load_data_nmt(pairs, 8, 6, seed=3, as_ndarray=False)[0]]
    again = [b[0][0] for b in load_data_nmt(pairs, 8, 6, seed=3, as_ndarray=False)[0]]
    other = [b[0][0] for b in load_data_nmt(pairs, 8, 6, seed=4, as_ndarray=False)[0]]
    assert all((a == b).all() for a, b in zip(first, again))
    assert not all((a == b).all() for a, b in zip(first, other))


def test_fra_eng_in_its_official_layout(tmp_path):
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_text(FRA, encoding="utf-8")
    loader, src_vocab, tgt_vocab = load_data_nmt("fra-eng", 4, 5, root=tmp_path, split="all",
                                                 as_ndarray=False, shuffle=False)
    (src, _, src_valid), (label, _) = next(iter(loader))
    assert src_vocab.to_tokens(src[0, :src_valid[0]].tolist()) == ["go", ".", "<eos>"]
    assert tgt_vocab.to_tokens(label[2, :3].tolist()) == ["cours", "!", "<eos>"]
    assert len(loader) == 5  # 20 pairs; the 600 of num_examples is a cap


@pytest.mark.parametrize("call, error, match", [
    (lambda: load_data_nmt([("a", "b")], 2, 0), ArgumentError, "num_steps"),
    (lambda: load_data_nmt([("a",)], 2, 4), ArgumentTypeError, "pair 0"),
    (lambda: load_data_nmt([], 2, 4), ArgumentError, "no sentence pairs"),
    (lambda: load_data_nmt("python-docs", 2, 4), ArgumentError, "no sentence pairs"),
    (lambda: load_data_nmt("fra-eng-x", 2, 4), UnknownNameError, "fra-eng"),
    (lambda: load_data_nmt([("a", "b")], 2, 4, token="bpe"), ArgumentError, "token"),
    (lambda: nmt_arrays([["a"]], [["b"]], Vocab(["a"]), Vocab(["b"]), 4), ArgumentError,
     "<bos>"),
])
def test_bad_input_gets_one_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------- fit trains on these batches

mx = pytest.importorskip("mxnet")
from gluon_dl.inference import predict_seq2seq  # noqa: E402
from gluon_dl.losses import MaskedSoftmaxCELoss  # noqa: E402
from gluon_dl.metrics import corpus_bleu, evaluate_bleu  # noqa: E402
from gluon_dl.models import get_config, get_model, list_models  # noqa: E402
from gluon_dl.models._registry import config_arguments  # noqa: E402
from gluon_dl.training import fit  # noqa: E402

SEQ2SEQ = [name for name in list_models() if get_config(name).task == "seq2seq"]


@pytest.mark.parametrize("name", SEQ2SEQ)
def test_fit_trains_every_translation_model_on_these_batches(name):
    num_steps = 7
    loader, src_vocab, tgt_vocab = load_data_nmt(
        reverse_pairs(128, length=(2, 5), vocab_size=6, seed=0), 32, num_steps,
        num_examples=None)
    kwargs = dict(src_vocab=len(src_vocab), tgt_vocab=len(tgt_vocab))
    if "num_steps" in config_arguments(name):
        kwargs["num_steps"] = num_steps
    mx.random.seed(0)
    net = get_model(name, **kwargs)
    losses = fit(net, loader, 5, loss=MaskedSoftmaxCELoss(), lr=1e-2, progress=False,
                 seed=0).history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < 0.7 * losses[0]
    # the batched translation of evaluate_bleu is predict_seq2seq's, sentence by sentence
    source, target = tokenize_nmt(reverse_pairs(6, length=(2, 5), vocab_size=6, seed=9))
    score, translations = evaluate_bleu(net, source, target, src_vocab, tgt_vocab, num_steps)
    for src, translation in zip(source, translations):
        text, _ = predict_seq2seq(net, src, src_vocab, tgt_vocab, num_steps)
        assert translation == text.split()
    assert score == corpus_bleu(translations, target)
