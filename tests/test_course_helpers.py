"""The course's helpers under d2l's names: timing, plots, devices, inference, search."""
import math
import subprocess
import sys
import types

import numpy as np
import pytest

import gluon_dl
from gluon_dl.errors import ArgumentError, InputShapeError
from gluon_dl.training.search import format_table, grid_search, random_search
from gluon_dl.utils.timing import Accumulator, Timer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_size=2000):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_size
    return data


# -- Timer and Accumulator ---------------------------------------------------------------

def test_timer_records_runs_and_sums_them():
    ticks = iter([0.0, 1.0, 3.0, 6.0, 10.0, 12.0])
    timer = Timer(clock=lambda: next(ticks))       # starts at 0.0
    assert timer.stop() == 1.0
    timer.start()                                  # 3.0
    assert timer.stop() == 3.0                     # 6.0
    with timer:                                    # 10.0 .. 12.0
        pass
    assert timer.times == [1.0, 3.0, 2.0]
    assert timer.sum() == 6.0
    assert timer.avg() == 2.0
    assert timer.cumsum() == [1.0, 4.0, 6.0]


def test_timer_with_the_real_clock():
    with Timer() as timer:
        sum(range(1000))
    assert len(timer.times) == 1 and timer.times[0] >= 0
    assert Timer().avg() == 0.0


def test_accumulator_adds_resets_and_indexes():
    import mxnet as mx

    metric = Accumulator(3)
    metric.add(1, 2.5, mx.nd.array([4.0]).sum())
    metric.add(np.float32(0.5), 0, 1)
    assert metric[0] == 1.5 and metric[1] == 2.5 and metric[2] == 5.0
    assert metric[0:2] == [1.5, 2.5] and len(metric) == 3
    metric.reset()
    assert metric.data == [0.0, 0.0, 0.0]
    with pytest.raises(ArgumentError, match="2 values for 3 sums"):
        metric.add(1, 2)
    with pytest.raises(ArgumentError, match="n must be an integer"):
        Accumulator(0)


# -- Animator ----------------------------------------------------------------------------

def test_animator_writes_and_rewrites_a_png(tmp_path):
    path = tmp_path / "curves.png"
    animator = gluon_dl.Animator(xlabel="epoch", legend=["train", "test"], xlim=[1, 3],
                                 path=path)
    animator.add(1, [1.0, 1.2])
    first = assert_png(path)
    animator.add(2, [0.6, 0.9])
    animator.add(3, (np.float32(0.4), None))       # None skips that curve's point
    second = assert_png(path)
    assert second != first
    assert animator.X == [[1.0, 2.0, 3.0], [1.0, 2.0]]
    assert animator.Y == [[1.0, 0.6, pytest.approx(0.4)], [1.2, 0.9]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]  # no temp files left
    with pytest.raises(ArgumentError, match="for 2 curves"):
        animator.add(4, [1.0, 2.0, 3.0])


def test_animator_throttles_and_flushes(tmp_path):
    path = tmp_path / "curves.png"
    animator = gluon_dl.Animator(path=path, min_interval=1e6)
    animator.add(1, 1.0)                           # the first point is always drawn
    first = assert_png(path, 1000)
    animator.add(2, 0.5)
    assert path.read_bytes() == first              # throttled
    animator.flush()
    assert assert_png(path, 1000) != first


@pytest.fixture
def fake_notebook(monkeypatch):
    """A Jupyter kernel as far as the plots can tell, recording what they display."""
    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj.data))

    class Image:
        def __init__(self, data):
            self.data = data

    def display(obj, display_id=None):
        shown.append(("display", obj.data))
        return Handle() if display_id else None

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.Image, ipython_display.display = Image, display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    return shown


def test_animator_updates_one_figure_in_a_notebook(fake_notebook):
    animator = gluon_dl.Animator(legend=["loss"])
    animator.add(1, 2.0)
    animator.add(2, 1.0)
    assert [kind for kind, _ in fake_notebook] == ["display", "update"]
    assert all(png[:8] == PNG_MAGIC for _, png in fake_notebook)


def test_plots_show_in_a_notebook_and_return_none(fake_notebook, tmp_path):
    assert gluon_dl.plot_history({"loss": [1.0, 0.5]}) is None
    assert gluon_dl.show_heatmaps(np.eye(3), "keys", "queries", path=tmp_path / "h.png") \
        == tmp_path / "h.png"
    assert [kind for kind, _ in fake_notebook] == ["display", "display"]


def test_terminal_ipython_is_not_a_notebook(monkeypatch):
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: types.SimpleNamespace()   # no kernel
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    assert not gluon_dl.plot.in_notebook()


# -- fit's history: AnimatorCallback and plot_history --------------------------------------

@pytest.fixture(scope="module")
def regression():
    """A linear regression trained for 3 epochs with the animator callback."""
    import mxnet as mx
    from mxnet import gluon

    from gluon_dl.data import ArrayLoader

    rng = np.random.RandomState(0)
    X = rng.randn(64, 2).astype("float32")
    y = (X @ np.array([[2.0], [-3.4]]) + 4.2).astype("float32")
    net = gluon.nn.Dense(1)
    net.initialize(mx.init.Normal(0.01))
    return net, ArrayLoader(X, y, 16), ArrayLoader(X[:32], y[:32], 16)


def test_animator_callback_draws_every_epoch_of_fit(regression, tmp_path):
    from mxnet import gluon

    net, train_iter, val_iter = regression
    callback = gluon_dl.AnimatorCallback(path=tmp_path / "fit.png")
    history = gluon_dl.fit(net, train_iter, 3, loss=gluon.loss.L2Loss(), lr=0.1,
                           val_iter=val_iter, callbacks=[callback], progress=False, seed=0)
    assert_png(tmp_path / "fit.png")
    assert callback.keys == ["loss", "val_loss"]   # a regression: no accuracy
    assert callback.animator.X == [[1.0, 2.0, 3.0]] * 2
    assert callback.animator.Y[0] == pytest.approx(history.history["loss"])
    assert callback.animator.Y[1] == pytest.approx(history.history["val_loss"])


def test_plot_history_without_accuracy(regression, tmp_path):
    from mxnet import gluon

    net, train_iter, val_iter = regression
    history = gluon_dl.fit(net, train_iter, 2, loss=gluon.loss.L2Loss(), lr=0.05,
                           val_iter=val_iter, progress=False, seed=0)
    assert "acc" not in history.history
    assert gluon_dl.plot_history(history, tmp_path / "h.png") == tmp_path / "h.png"
    assert_png(tmp_path / "h.png")
    fig = gluon_dl.plot_history(history.history)    # the dict works too
    (ax,) = fig.axes                                 # loss and val_loss share one panel
    assert ax.get_title() == "loss"
    assert [line.get_label() for line in ax.get_lines()] == ["train", "validation"]


def test_plot_history_pairs_every_key_and_chains_phases():
    logs = {"loss": [1.0, 0.5], "acc": [0.5, 0.7], "val_loss": [1.1, 0.6],
            "val_acc": [0.4, 0.6], "lr": [0.1, 0.05]}
    fig = gluon_dl.plot_history(logs, title="run")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "acc", "lr"]
    assert [line.get_label() for line in fig.axes[2].get_lines()] == ["lr"]
    fig = gluon_dl.plot_history({"train": {"loss": [1.0, 0.5]},
                                 "fine-tune": {"loss": [0.4, 0.3, 0.2]}})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["train: loss", "fine-tune: loss"]
    assert list(lines[1].get_xdata()) == [3, 4, 5]  # the phases follow each other
    with pytest.raises(ArgumentError, match="no per-epoch numbers"):
        gluon_dl.plot_history({})


# -- show_images and show_heatmaps --------------------------------------------------------

@pytest.mark.parametrize("shape, dtype, shown", [
    ((5, 8, 6), "uint8", (8, 6)),            # (N, H, W) grayscale
    ((5, 1, 8, 6), "float32", (8, 6)),       # NCHW grayscale
    ((5, 8, 6, 3), "uint8", (8, 6, 3)),      # NHWC colour
    ((5, 3, 8, 6), "float32", (8, 6, 3)),    # NCHW colour, normalized (outside 0..1)
])
def test_show_images_reads_every_layout(tmp_path, shape, dtype, shown):
    rng = np.random.RandomState(0)
    imgs = (rng.rand(*shape) * 255).astype(dtype) if dtype == "uint8" \
        else rng.randn(*shape).astype(dtype)
    path = gluon_dl.show_images(imgs, 2, 3, titles=list("abcde"), path=tmp_path / "grid.png")
    assert_png(path)
    fig = gluon_dl.show_images(imgs, 2, 3, titles=list("abcde"))
    with_images = [ax for ax in fig.axes if ax.images]
    assert len(with_images) == 5 and len(fig.axes) == 6        # one blank cell
    array = with_images[0].images[0].get_array()
    assert array.shape == shown
    assert 0 <= float(array.min()) and float(array.max()) <= (255 if dtype == "uint8" else 1)
    assert with_images[4].get_title() == "e"


def test_show_images_takes_ndarrays_and_lists_and_refuses_other_shapes():
    import mxnet as mx

    fig = gluon_dl.show_images(mx.nd.ones((2, 1, 4, 4)), 1, 2)
    assert sum(bool(ax.images) for ax in fig.axes) == 2
    fig = gluon_dl.show_images([np.zeros((4, 4)), np.ones((3, 4, 4))], 1, 2)
    assert fig.axes[1].images[0].get_array().shape == (4, 4, 3)
    with pytest.raises(InputShapeError, match="no channel axis of size 1 or 3"):
        gluon_dl.show_images(np.zeros((2, 5, 4, 4)), 1, 2)
    with pytest.raises(ArgumentError, match="num_rows"):
        gluon_dl.show_images(np.zeros((2, 4, 4)), 0, 2)


def test_show_heatmaps_of_attention_weights(tmp_path):
    weights = np.random.RandomState(0).rand(2, 3, 5, 7)
    path = gluon_dl.show_heatmaps(weights, "keys", "queries", titles=["h1", "h2", "h3"],
                                  path=tmp_path / "attention.png")
    assert_png(path)
    fig = gluon_dl.show_heatmaps(weights, "keys", "queries", titles=["h1", "h2", "h3"])
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 6 and len(fig.axes) == 7              # and a colour bar
    assert panels[0].images[0].get_array().shape == (5, 7)
    assert panels[0].get_ylabel() == "queries" and panels[5].get_xlabel() == "keys"
    assert panels[2].get_title() == "h3"
    assert len([ax for ax in gluon_dl.show_heatmaps(np.eye(4), "k", "q").axes if ax.images]) == 1
    with pytest.raises(InputShapeError, match="rows, cols, queries, keys"):
        gluon_dl.show_heatmaps(np.zeros((1, 1, 1, 2, 2)), "k", "q")


# -- devices -----------------------------------------------------------------------------

def test_try_gpu_here():
    import mxnet as mx

    from gluon_dl.devices import num_gpus

    if num_gpus() == 0:
        assert gluon_dl.try_gpu() == mx.cpu()
        assert gluon_dl.try_all_gpus() == [mx.cpu()]
    else:
        assert gluon_dl.try_gpu() == mx.gpu(0)
        assert len(gluon_dl.try_all_gpus()) == num_gpus()


def test_try_gpu_by_the_gpu_count(monkeypatch):
    import mxnet as mx

    monkeypatch.setattr(mx.context, "num_gpus", lambda: 2)
    assert gluon_dl.try_gpu(1) == mx.gpu(1)
    assert gluon_dl.try_gpu(2) == mx.cpu()
    assert gluon_dl.try_all_gpus() == [mx.gpu(0), mx.gpu(1)]

    def no_driver():
        raise mx.base.MXNetError("CUDA: no CUDA-capable device is detected")

    monkeypatch.setattr(mx.context, "num_gpus", no_driver)
    assert gluon_dl.try_gpu() == mx.cpu()
    assert gluon_dl.try_all_gpus() == [mx.cpu()]
    with pytest.raises(ArgumentError, match="GPU index"):
        gluon_dl.try_gpu(-1)


# -- evaluate_loss -----------------------------------------------------------------------

def test_evaluate_loss_is_the_mean_per_example_loss():
    import mxnet as mx
    from mxnet import gluon

    net = gluon.nn.Dense(1, in_units=2)
    net.initialize()
    net.weight.set_data(mx.nd.array([[1.0, -2.0]]))
    net.bias.set_data(mx.nd.array([0.5]))
    rng = np.random.RandomState(0)
    X, y = rng.randn(10, 2).astype("float32"), rng.randn(10, 1).astype("float32")
    batches = [(mx.nd.array(X[i:i + 4]), mx.nd.array(y[i:i + 4])) for i in range(0, 10, 4)]
    expected = np.mean(0.5 * (X @ np.array([1.0, -2.0]) + 0.5 - y[:, 0]) ** 2)
    assert gluon_dl.evaluate_loss(net, batches, gluon.loss.L2Loss()) == pytest.approx(expected,
                                                                                      rel=1e-5)


def test_evaluate_loss_with_several_inputs():
    import mxnet as mx
    from mxnet import gluon

    class Add(gluon.HybridBlock):
        def hybrid_forward(self, F, a, b):
            return a + b

    a, b, y = np.arange(6.0).reshape(3, 2), np.ones((3, 2)), np.zeros((3, 2))
    batches = [((mx.nd.array(a), mx.nd.array(b)), mx.nd.array(y))]
    expected = np.mean(np.mean(0.5 * (a + b) ** 2, axis=1))
    assert gluon_dl.evaluate_loss(Add(), batches, gluon.loss.L2Loss()) == pytest.approx(expected)


# -- predict_lm --------------------------------------------------------------------------

CHARS = ["<unk>", " "] + [chr(c) for c in range(ord("a"), ord("z") + 1)]   # 28 tokens
CHAR_VOCAB = {c: i for i, c in enumerate(CHARS)}


def _greedy_without_state(net, ids, num_preds, length=None):
    """The reference: rerun the whole sequence (padded to ``length``) for every token."""
    import mxnet as mx

    ids = list(ids)
    for _ in range(num_preds):
        padded = ids + [0] * ((length or len(ids)) - len(ids))
        logits = net(mx.nd.array([padded], dtype="int32"))
        ids.append(int(logits[0, len(ids) - 1].argmax().asscalar()))
    return ids


def test_predict_lm_continues_the_prefix():
    import mxnet as mx

    from gluon_dl.models import get_model

    net = get_model("lstm_lm", vocab_size=28)
    net.initialize(mx.init.Normal(0.5))
    text = gluon_dl.predict_lm("time traveller", 10, net, CHAR_VOCAB)
    assert text.startswith("time traveller") and len(text) == 24
    expected = _greedy_without_state(net, [CHAR_VOCAB[c] for c in "time traveller"], 10)
    assert text == "".join(CHARS[i] for i in expected)
    net.hybridize(static_alloc=True, static_shape=True)
    assert gluon_dl.predict_lm("time traveller", 10, net, CHAR_VOCAB) == text


def test_predict_lm_after_the_hybridized_net_ran_without_state():
    """fit calls net(X): the cached graph then has no state inputs, and predict_lm's
    net(X, *state) must still work, and net(X) again after it."""
    import mxnet as mx

    from gluon_dl.models import get_model

    net = get_model("gru_lm", vocab_size=28)
    net.initialize(mx.init.Normal(0.5))
    text = gluon_dl.predict_lm("time traveller", 8, net, CHAR_VOCAB)
    net.hybridize(static_alloc=True, static_shape=True)
    X = mx.nd.array([[CHAR_VOCAB[c] for c in "the time"]], dtype="int32")
    before = net(X)[0].asnumpy() if isinstance(net(X), (list, tuple)) else net(X).asnumpy()
    assert gluon_dl.predict_lm("time traveller", 8, net, CHAR_VOCAB) == text
    after = net(X)
    after = (after[0] if isinstance(after, (list, tuple)) else after).asnumpy()
    np.testing.assert_allclose(after, before, rtol=1e-6)


def test_predict_lm_windows_a_fixed_length_scratch_model(tmp_path):
    import mxnet as mx

    from gluon_dl.models.rnn_scratch import ScratchRNNLM

    net = ScratchRNNLM("gru", vocab_size=28, num_steps=4)      # 3 + 12 tokens cross windows
    net.initialize(mx.init.Normal(0.5))
    net.save_parameters(str(tmp_path / "gru.params"))
    reference = ScratchRNNLM("gru", vocab_size=28, num_steps=15)
    reference.load_parameters(str(tmp_path / "gru.params"))
    text = gluon_dl.predict_lm("the", 12, net, CHAR_VOCAB)
    expected = _greedy_without_state(reference, [CHAR_VOCAB[c] for c in "the"], 12, 15)
    assert text == "".join(CHARS[i] for i in expected)


class CourseVocab:
    """The course's Vocab: unknown tokens map to <unk>, to_tokens goes back."""

    def __init__(self, tokens):
        self.idx_to_token = list(tokens)
        self.token_to_idx = {t: i for i, t in enumerate(tokens)}

    def __getitem__(self, token):
        return self.token_to_idx.get(token, 0)

    def to_tokens(self, i):
        return self.idx_to_token[i]


def test_predict_lm_with_word_tokens_and_other_vocabularies():
    import mxnet as mx

    from gluon_dl.models import get_model

    words = ["<unk>", "the", "time", "machine", "by", "h", "g", "wells"]
    net = get_model("gru_lm", vocab_size=len(words))
    net.initialize(mx.init.Normal(0.5))
    out = gluon_dl.predict_lm(["the", "time"], 3, net, CourseVocab(words))
    assert out[:2] == ["the", "time"] and len(out) == 5 and set(out) <= set(words)
    as_pair = ({w: i for i, w in enumerate(words)}, words)
    assert gluon_dl.predict_lm(["the", "time"], 3, net, as_pair) == out
    assert gluon_dl.predict_lm(["the", "unseen"], 2, net, as_pair)[:2] == ["the", "unseen"]
    with pytest.raises(ArgumentError, match="no '<unk>'"):
        gluon_dl.predict_lm(["unseen"], 2, net, {"the": 0, "time": 1})
    with pytest.raises(ArgumentError, match="prefix is empty"):
        gluon_dl.predict_lm("", 2, net, as_pair)
    with pytest.raises(ArgumentError, match="num_preds"):
        gluon_dl.predict_lm("the", -1, net, as_pair)
    with pytest.raises(ArgumentError, match="begin_state"):
        gluon_dl.predict_lm("the", 1, mx.gluon.nn.Dense(2), as_pair)


def test_predict_lm_with_a_gluonnlp_vocab():
    gluonnlp = pytest.importorskip("gluonnlp")
    import mxnet as mx

    from gluon_dl.models import get_model

    vocab = gluonnlp.Vocab(gluonnlp.data.count_tokens(list("the time machine")))
    net = get_model("rnn_lm", vocab_size=len(vocab))
    net.initialize(mx.init.Normal(0.5))
    text = gluon_dl.predict_lm("the", 4, net, vocab)
    expected = _greedy_without_state(net, [vocab[c] for c in "the"], 4)
    assert text == "the" + "".join(vocab.idx_to_token[i] for i in expected[3:])


# -- predict_seq2seq ---------------------------------------------------------------------

WORDS = ["<pad>", "<bos>", "<eos>", "<unk>"] + [f"w{i}" for i in range(28)]   # ids 0, 1, 2
WORD_VOCAB = {w: i for i, w in enumerate(WORDS)}


def _translation_model(name):
    import mxnet as mx

    from gluon_dl.models import get_model

    mx.random.seed(0)
    net = get_model(name, src_vocab=len(WORDS), tgt_vocab=len(WORDS))
    net.initialize(mx.init.Normal(0.3))
    return net


@pytest.mark.parametrize("name, rows_cols", [("seq2seq_attention", (1, 1)),
                                             ("transformer", (2, 4))])
def test_predict_seq2seq_returns_the_translation_and_its_attention(name, rows_cols):
    import mxnet as mx

    from gluon_dl.models.seq2seq import predict_seq2seq as predict_ids
    from gluon_dl.models.transformer import greedy_translate

    net = _translation_model(name)
    text, attention = gluon_dl.predict_seq2seq(net, "W1 w2 w3", WORD_VOCAB,
                                               (WORD_VOCAB, WORDS), 8)
    tokens = text.split()
    assert set(tokens) <= set(WORDS) and "<eos>" not in tokens
    steps = min(len(tokens) + 1, 8)                    # the step that emitted <eos> included
    assert attention.shape == rows_cols + (steps, 4)   # keys: w1 w2 w3 <eos>
    np.testing.assert_allclose(attention.sum(axis=-1), 1.0, rtol=1e-5)
    # The same tokens as the models' own greedy decoders.
    src = mx.nd.array([[5, 6, 7, 2, 0, 0, 0, 0]], dtype="int32")
    valid = mx.nd.array([4], dtype="int32")
    if name == "transformer":
        ids = greedy_translate(net, src, valid, 8)[0]
    else:
        ids = list(predict_ids(net, src, valid, bos=1, num_steps=8, eos=2)[0])
        ids = ids[:ids.index(2)] if 2 in ids else ids
    assert tokens == [WORDS[i] for i in ids]
    # Hybridized, the attention layers still hand back their weights.
    net.hybridize()
    tokens10 = mx.nd.array([[5, 6, 7, 2] + [0] * 6], dtype="int32")   # the training length
    net(tokens10, tokens10, valid)
    hybrid_text, hybrid_attention = gluon_dl.predict_seq2seq(net, "w1 w2 w3", WORD_VOCAB,
                                                             (WORD_VOCAB, WORDS), 8)
    assert hybrid_text == text
    np.testing.assert_allclose(hybrid_attention, attention, rtol=1e-4, atol=1e-6)


def test_predict_seq2seq_without_attention_and_with_a_wrong_model():
    import mxnet as mx

    net = _translation_model("seq2seq_gru")
    text, attention = gluon_dl.predict_seq2seq(net, ["w1", "w2"], WORD_VOCAB, WORD_VOCAB, 5)
    assert attention is None and len(text.split()) <= 5
    dense = mx.gluon.nn.Dense(2)
    dense.initialize()
    with pytest.raises(ArgumentError, match="neither a Transformer"):
        gluon_dl.predict_seq2seq(dense, "w1", WORD_VOCAB, WORD_VOCAB, 5)


# -- grid and random search --------------------------------------------------------------

def bowl(x, y):
    return (x - 2) ** 2 + (y + 1) ** 2


def test_grid_search_finds_the_minimum_and_is_deterministic():
    grid = {"x": range(5), "y": [-2, -1, 0, 1]}
    results = grid_search(bowl, grid)
    assert len(results) == 20
    assert results[0]["params"] == {"x": 2, "y": -1} and results[0]["score"] == 0
    assert [r["score"] for r in results] == sorted(r["score"] for r in results)
    assert results[0]["trial"] == 2 * 4 + 1                # x varies slowest
    assert grid_search(bowl, grid) == results
    best = grid_search(bowl, {"x": [3, 0], "y": -1}, mode="max")[0]
    assert best["params"] == {"x": 0, "y": -1} and best["score"] == 4


def test_search_scores_histories_by_the_last_value():
    from gluon_dl.training import History

    def train_fn(lr):
        history = History()
        for epoch in range(3):    # best lr 0.1: lowest final val_loss, highest val_acc
            history.on_epoch_end(epoch, {"val_loss": abs(lr - 0.1) + 1 / (epoch + 1),
                                         "val_acc": 1 - abs(lr - 0.1)})
        return history

    results = grid_search(train_fn, {"lr": [0.01, 0.1, 0.5]})
    assert results[0]["params"] == {"lr": 0.1} and results[0]["metric"] == "val_loss"
    assert results[0]["score"] == pytest.approx(1 / 3)
    results = grid_search(train_fn, {"lr": [0.01, 0.1, 0.5]}, metric="val_acc")
    assert [r["params"]["lr"] for r in results] == [0.1, 0.01, 0.5]   # "acc": maximized
    with pytest.raises(ArgumentError, match="without 'val_loss'"):
        grid_search(lambda lr: {"loss": [1.0]}, {"lr": [0.1]})


def test_random_search_draws_from_the_space_deterministically():
    space = {"lr": (1e-4, 1e-1), "layers": (1, 3), "units": [16, 32, 64], "optimizer": "adam"}
    calls = []

    def train_fn(**params):
        calls.append(params)
        return (math.log10(params["lr"]) + 2) ** 2 + params["layers"]

    results = random_search(train_fn, space, 40, seed=1, log=["lr"])
    assert len(results) == 40
    assert all(1e-4 <= p["lr"] <= 1e-1 and p["layers"] in (1, 2, 3) and p["units"] in
               (16, 32, 64) and p["optimizer"] == "adam" for p in calls)
    assert {p["layers"] for p in calls} == {1, 2, 3}
    # Log-uniform: about as many draws below 1e-2.5 as above.
    assert 10 <= sum(p["lr"] < 10 ** -2.5 for p in calls) <= 30
    best = results[0]
    assert best["params"]["layers"] == 1 and abs(math.log10(best["params"]["lr"]) + 2) < 0.3
    assert best["score"] == min(r["score"] for r in results)
    assert random_search(train_fn, space, 40, seed=1, log=["lr"]) == results
    assert random_search(train_fn, space, 40, seed=2, log=["lr"]) != results


def test_search_arguments_are_checked():
    with pytest.raises(ArgumentError, match="low > 0"):
        random_search(bowl, {"x": (0, 1), "y": 1}, 2, log=True)
    with pytest.raises(ArgumentError, match="a tuple is a"):
        random_search(bowl, {"x": (0, 1, 2), "y": 1}, 2)
    with pytest.raises(ArgumentError, match="num_trials"):
        random_search(bowl, {"x": (0, 1), "y": 1}, 0)
    with pytest.raises(ArgumentError, match="no candidate values"):
        grid_search(bowl, {"x": [], "y": [1]})
    with pytest.raises(ArgumentError, match="mode"):
        grid_search(bowl, {"x": [1], "y": [1]}, mode="best")


def test_nan_scores_rank_last_and_the_table_reads_best_first():
    results = grid_search(lambda x: float("nan") if x == 0 else x, {"x": [0, 3, 1]})
    assert [r["params"]["x"] for r in results] == [1, 3, 0]
    table = format_table(results).splitlines()
    assert table[0].split() == ["rank", "trial", "x", "score"]
    assert table[2].split() == ["1", "2", "1", "1"]
    assert table[4].split() == ["3", "0", "0", "nan"]
    assert len(table) == 5


# -- discoverable from the package -------------------------------------------------------

HELPERS = ["Timer", "Accumulator", "Animator", "AnimatorCallback", "plot_history", "show_images",
           "show_heatmaps", "try_gpu", "try_all_gpus", "evaluate_loss", "evaluate_accuracy",
           "predict_lm", "predict_seq2seq", "grid_search", "random_search", "format_table"]


def test_the_package_lists_and_resolves_every_helper():
    for name in HELPERS:
        assert name in gluon_dl.__doc__ and name in gluon_dl.__all__ and name in dir(gluon_dl)
        helper = getattr(gluon_dl, name)
        assert "Defined for the lesson" in helper.__doc__


def test_import_stays_lazy():
    code = ("import sys, gluon_dl, gluon_dl.plot, gluon_dl.inference, gluon_dl.devices; "
            "gluon_dl.Timer; gluon_dl.grid_search; "
            "print(sorted(m for m in ('mxnet', 'matplotlib', 'IPython') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
