"""Deep and bidirectional RNNs: stacking LSTM layers, and why a bidirectional one cannot generate.

get_model("lstm_lm_deep") stacks two LSTM layers, the second reading the first one's
states. get_model("lstm_lm_bidirectional") adds a layer that reads the text backwards,
so its output at step t has seen token t + 1, the very token it is asked to predict:
trained as a language model, its perplexity collapses towards 1 by copying the future.
Measured honestly, with position t fed only tokens 0..t, it falls apart, and so does the
text it generates, while the (causal) deep LSTM scores the same either way.
Data: python-docs (offline); --data-root DIR reads The Time Machine (time-machine).
Quick run: python examples/19_deep_bidirectional_rnn.py --quick

Lesson: 19. Deep and bidirectional recurrent neural networks
"""
import math

import numpy as np
from mxnet import gluon

from gluon_dl import fit, get_model, plot_history, predict_lm
from gluon_dl.lesson import Lesson, run
from gluon_dl.training import GradientClipping

BATCH_SIZE, NUM_HIDDENS = 32, 128


def perplexities(net, X, Y):
    """``(seen, causal)``: perplexity on windows whole, and with step t fed only tokens 0..t."""
    ce = gluon.loss.SoftmaxCrossEntropyLoss()
    net.hybridize(active=False)  # windows of every length from 1 to num_steps
    seen = ce(net(X), Y).mean().asscalar()
    causal = np.mean([ce(net(X[:, :t + 1])[:, t], Y[:, t]).mean().asscalar()
                      for t in range(X.shape[1])])
    return math.exp(seen), math.exp(causal)


def main():
    lesson = Lesson(__doc__)
    num_steps, seed = lesson.pick(full=35, quick=16, smoke=5), lesson.args.seed
    train_iter, test_iter, vocab, baseline = lesson.lm_data(
        BATCH_SIZE, num_steps, max_tokens=lesson.pick(full=None, quick=25000, smoke=1000),
        max_held_out=lesson.pick(full=None, quick=5000, smoke=1000))
    lesson.note("model", "lstm_lm_deep and lstm_lm_bidirectional")
    prefix = lesson.lm_prefix
    X, Y = next(test_iter.batches(0))

    curves, scores = {}, {}
    for name in ("lstm_lm_deep", "lstm_lm_bidirectional"):
        net = get_model(name, vocab_size=len(vocab), num_hiddens=NUM_HIDDENS)
        history = fit(net, train_iter, lesson.pick(full=20, quick=2, smoke=1), lr=0.01,
                      val_iter=test_iter, callbacks=[GradientClipping(1.0)], progress=False,
                      seed=seed)
        for key in ("loss", "val_loss"):  # one panel per model, training and held out
            curves[key.replace("loss", f"{name} perplexity")] = \
                [math.exp(v) for v in history.history[key]]
        scores[name] = perplexities(net, X, Y)
        lesson.note(f"{name} perplexity, future seen / hidden",
                    " / ".join(f"{p:.2f}" for p in scores[name]))
        lesson.note(f"{name} generated", repr(predict_lm(prefix, 50, net, vocab)))
    lesson.save_plot(plot_history(curves, title="perplexity per epoch (the bidirectional "
                                                "model sees the future)"), "perplexity.png")
    deep, bi = scores["lstm_lm_deep"], scores["lstm_lm_bidirectional"]
    lesson.check("deep LSTM held-out perplexity", deep[1], below=0.7 * baseline)
    lesson.check("bidirectional perplexity with the future seen, over the deep LSTM's",
                 bi[0] / deep[0], below=0.8)
    lesson.check("bidirectional perplexity with the future hidden, over with it seen",
                 bi[1] / bi[0], above=3.0)  # a causal model scores 1 here, the deep LSTM does
    lesson.finish()


if __name__ == "__main__":
    run(main)
