"""BERT pretraining data: paragraphs, sentence pairs, masks, padding, and fit training on it."""
import numpy as np
import pytest

from gluon_dl.data import Vocab
from gluon_dl.data.bert import (RESERVED_TOKENS, bert_examples, bert_paragraphs,
                                load_data_bert, tokens_and_segments)
from gluon_dl.errors import ArgumentError, ArgumentTypeError, DataError

DOCS = """The "assert" statement
**********************

Assert statements are a convenient way. They insert debugging assertions!

   assert_stmt ::= "assert" expression

Is it simple? The simple form is short.

Assignment statements
*********************

Assignment statements bind names. Senjō stays one word.
"""


@pytest.fixture(scope="module")
def docs():
    """Examples of the embedded python-docs, the offline corpus of the lesson."""
    loader, vocab = load_data_bert("python-docs", 64, 64, seed=0, as_ndarray=False)
    return loader.X, loader.y, vocab


def test_paragraphs_are_sections_without_code_or_headings():
    assert bert_paragraphs(DOCS) == [
        [["assert", "statements", "are", "a", "convenient", "way"],
         ["they", "insert", "debugging", "assertions"],
         ["is", "it", "simple"], ["the", "simple", "form", "is", "short"]],
        [["assignment", "statements", "bind", "names"], ["senjō", "stays", "one", "word"]]]
    wiki = " = Valkyria = \n \n It is a <unk> game . It sold . \n \n = = Plot = = \n \n One . \n"
    assert bert_paragraphs(wiki) == [[["it", "is", "a", "<unk>", "game"], ["it", "sold"]]]


def test_tokens_and_segments():
    assert tokens_and_segments(["a", "b"], ["c"]) == (
        ["<cls>", "a", "b", "<sep>", "c", "<sep>"], [0, 0, 0, 0, 1, 1])
    assert tokens_and_segments(["a"]) == (["<cls>", "a", "<sep>"], [0, 0, 0])


def test_shapes_dtypes_and_padding(docs):
    (tokens, segments, valid, positions), (labels, weights, nsp), vocab = docs
    n = len(tokens)
    assert n > 1000 and tokens.shape == segments.shape == (n, 64)
    assert positions.shape == labels.shape == weights.shape == (n, 10)  # round(0.15 * 64)
    assert valid.shape == nsp.shape == (n,)
    assert weights.dtype == np.float32 and all(
        a.dtype == np.int32 for a in (tokens, segments, valid, positions, labels, nsp))
    pad = vocab["<pad>"]
    past = np.arange(64) >= valid[:, None]
    assert (tokens[past] == pad).all() and (tokens[~past] != pad).all()
    assert (segments[past] == 0).all() and valid.max() <= 64


def test_cls_sep_and_segment_ids(docs):
    (tokens, segments, valid, _), _, vocab = docs
    cls, sep = vocab["<cls>"], vocab["<sep>"]
    assert (tokens[:, 0] == cls).all() and (tokens == cls).sum() == len(tokens)
    for row, seg, n in zip(tokens, segments, valid):
        seps = np.flatnonzero(row == sep)
        assert len(seps) == 2 and seps[1] == n - 1
        assert (seg[:seps[0] + 1] == 0).all() and (seg[seps[0] + 1:n] == 1).all()


def test_predictions_never_fall_on_cls_sep_or_pad(docs):
    (tokens, _, valid, positions), (labels, weights, _), vocab = docs
    specials = vocab[list(RESERVED_TOKENS)]
    counts = weights.sum(axis=1).astype(int)
    assert (counts == np.maximum(1, np.round(valid * 0.15))).all()
    for row, n, pos, lab, k in zip(tokens, valid, positions, labels, counts):
        real = pos[:k]
        assert (real >= 1).all() and (real < n).all() and len(set(real)) == k
        assert not np.isin(lab[:k], specials).any()
        assert (pos[k:] == 0).all() and (lab[k:] == 0).all()


def test_mask_proportions_over_a_seeded_sample(docs):
    (tokens, _, _, positions), (labels, weights, _), vocab = docs
    real = weights > 0
    chosen = np.take_along_axis(tokens, positions, axis=1)[real]
    original = labels[real]
    masked = chosen == vocab["<mask>"]
    kept = chosen == original
    replaced = ~masked & ~kept
    assert len(chosen) > 5000
    assert masked.mean() == pytest.approx(0.8, abs=0.02)
    # a random word equals the original now and then, so "kept" runs a little over 10%
    assert kept.mean() == pytest.approx(0.1, abs=0.015)
    assert replaced.mean() == pytest.approx(0.1, abs=0.015)
    first_word = 1 + len(RESERVED_TOKENS)
    assert (chosen[replaced] >= first_word).all()  # random words are never special tokens


def test_next_sentence_pairs_are_balanced_and_true_when_labelled():
    # sentence j of paragraph i is the two words "p<i> s<j>", so a pair tells its order
    paragraphs = [[[f"p{i}", f"s{j}"] for j in range(6)] for i in range(80)]
    vocab = Vocab([s for p in paragraphs for s in p], reserved_tokens=list(RESERVED_TOKENS))
    (tokens, _, _, positions), (labels, weights, nsp) = bert_examples(
        paragraphs, vocab, max_len=12, seed=5)
    assert len(nsp) == 80 * 5 and nsp.mean() == pytest.approx(0.5, abs=0.06)
    original = tokens.copy()
    for row, pos, lab, w in zip(original, positions, labels, weights):
        row[pos[w > 0]] = lab[w > 0]
    for row, is_next in zip(original, nsp):
        a, b = vocab.to_tokens(row[1:3].tolist()), vocab.to_tokens(row[4:6].tolist())
        if is_next:
            assert b[0] == a[0] and int(b[1][1:]) == int(a[1][1:]) + 1


def test_same_seed_same_examples_other_seed_other_masks():
    paragraphs = bert_paragraphs(DOCS * 20)
    vocab = Vocab([s for p in paragraphs for s in p], reserved_tokens=list(RESERVED_TOKENS))
    one, two, other = (bert_examples(paragraphs, vocab, 32, seed=s) for s in (1, 1, 2))
    assert all((a == b).all() for a, b in zip(one[0] + one[1], two[0] + two[1]))
    assert not (one[0][0] == other[0][0]).all()


def test_held_out_text_reuses_the_vocabulary(docs):
    *_, vocab = docs
    test, same = load_data_bert("python-docs", 32, 64, split="test", vocab=vocab)
    assert same is vocab and len(test) > 0


@pytest.mark.parametrize("call, error, match", [
    (lambda v: bert_examples([[["a"], ["b"]]], Vocab(["a", "b"]), 16), ArgumentError, "<mask>"),
    (lambda v: bert_examples([[["a"] * 20, ["b"] * 20]], v, 16), DataError, "max_len=16"),
    (lambda v: bert_examples([[["a"], ["b"]]], v, 4), ArgumentError, "max_len"),
    (lambda v: bert_examples([[["a"], ["b"]]], v, 16, num_examples=0), ArgumentError,
     "num_examples"),
    (lambda v: bert_examples([[["a"], ["b"]]], ["a"], 16), ArgumentTypeError, "Vocab"),
    (lambda v: load_data_bert("One sentence only.", 2), DataError, "two sentences"),
    (lambda v: load_data_bert(["text"], 2), ArgumentTypeError, "text or a data set"),
    (lambda v: load_data_bert("fra-eng", 2), ArgumentError, "not one text"),
])
def test_bad_input_gets_one_clear_error(call, error, match, tmp_path, monkeypatch):
    monkeypatch.setenv("GLUON_DL_DATA", str(tmp_path))
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_text("Go.\tVa !\n", encoding="utf-8")
    vocab = Vocab(["a", "b"], reserved_tokens=list(RESERVED_TOKENS))
    with pytest.raises(error, match=match):
        call(vocab)


# ---------------------------------------------------------------- fit trains bert_small on it

mx = pytest.importorskip("mxnet")
from gluon_dl.data.bert import evaluate_pretraining  # noqa: E402
from gluon_dl.losses import BERTPretrainingLoss  # noqa: E402
from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.training import fit  # noqa: E402


def test_fit_trains_bert_small_on_these_batches_and_the_masked_lm_loss_falls():
    # the first 256 examples keep the test short
    loader, vocab = load_data_bert("python-docs", 32, 48, seed=0, num_examples=256)
    assert len(loader) == 8
    mx.random.seed(0)
    net = get_model("bert_small", vocab_size=len(vocab), max_len=48)
    net.initialize(mx.init.Xavier())
    before = evaluate_pretraining(net, loader)
    losses = fit(net, loader, 4, loss=BERTPretrainingLoss(), lr=2e-3, progress=False,
                 seed=0).history["loss"]
    after = evaluate_pretraining(net, loader)
    # untrained: about log(vocabulary) for the masked LM plus log(2) for the next sentence
    assert before["mlm_loss"] == pytest.approx(np.log(len(vocab)), rel=0.3)
    assert np.isfinite(losses).all() and losses[-1] < losses[0] - 1.0
    assert after["mlm_loss"] < before["mlm_loss"] - 1.0 and after["mlm_acc"] > before["mlm_acc"]
    assert 0 <= after["nsp_acc"] <= 1 and after["nsp_loss"] > 0


def test_the_loss_is_masked_lm_mean_plus_next_sentence():
    rng = np.random.RandomState(0)
    mlm = rng.randn(2, 3, 5).astype(np.float32)
    nsp = rng.randn(2, 2).astype(np.float32)
    labels = np.array([[1, 4, 0], [2, 0, 0]])
    weights = np.array([[1, 1, 0], [1, 0, 0]], dtype=np.float32)
    is_next = np.array([1, 0])
    out = BERTPretrainingLoss()((None, mx.nd.array(mlm), mx.nd.array(nsp)), mx.nd.array(labels),
                                mx.nd.array(weights), mx.nd.array(is_next)).asnumpy()

    def nll(logits, label):
        return np.log(np.exp(logits).sum()) - logits[label]

    expected = [(nll(mlm[0, 0], 1) + nll(mlm[0, 1], 4)) / 2 + nll(nsp[0], 1),
                nll(mlm[1, 0], 2) + nll(nsp[1], 0)]
    assert out == pytest.approx(expected, rel=1e-5)
