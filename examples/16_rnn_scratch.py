"""Recurrent neural networks from scratch: a character-level language model, clipped.

get_model("rnn_scratch_lm") computes H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h) step by
step with the course's parameter names; it learns to predict the next character of a
text. Backpropagation through time multiplies many Jacobians, so gradients can explode:
GradientClipping rescales them to a norm of at most 1 before every update.
Perplexity (exp of the mean cross-entropy) is the figure: 28 would be a uniform guess.
Data: Python's reference documentation (python-docs, offline); --data-root DIR reads
The Time Machine (time-machine). Quick run: python examples/16_rnn_scratch.py --quick

Lesson: 16. Recurrent neural networks from scratch
"""
import math

from gluon_dl import fit, get_model, plot_history, predict_lm
from gluon_dl.lesson import Lesson, run
from gluon_dl.training import Callback, GradientClipping

BATCH_SIZE = 32


class NormLog(Callback):
    """The largest gradient norm of each epoch, read from GradientClipping (before clipping)."""

    def __init__(self, clipping):
        self.clipping, self.norms, self.largest = clipping, [], 0.0

    def on_batch_end(self, batch, logs=None):
        self.largest = max(self.largest, float(self.clipping.last_norm))

    def on_epoch_end(self, epoch, logs=None):
        self.norms.append(self.largest)
        self.largest = 0.0


def main():
    lesson = Lesson(__doc__)
    num_steps, seed = lesson.pick(full=35, quick=16, smoke=5), lesson.args.seed
    train_iter, test_iter, vocab, baseline = lesson.lm_data(
        BATCH_SIZE, num_steps, max_tokens=lesson.pick(full=None, quick=30000, smoke=1000),
        max_held_out=lesson.pick(full=None, quick=5000, smoke=1000))

    net = get_model("rnn_scratch_lm", vocab_size=len(vocab), num_hiddens=128,
                    num_steps=num_steps)
    lesson.note("model", "rnn_scratch_lm (128 hidden units)")
    lesson.note("unrolled over", f"{num_steps} steps")
    clipping = GradientClipping(1.0)
    norms = NormLog(clipping)
    history = fit(net, train_iter, lesson.pick(full=30, quick=3, smoke=1), lr=0.01,
                  val_iter=test_iter, callbacks=[clipping, norms], progress=False, seed=seed)

    ppl = {"perplexity": [math.exp(v) for v in history.history["loss"]],
           "val_perplexity": [math.exp(v) for v in history.history["val_loss"]],
           "largest gradient norm": norms.norms}
    lesson.save_plot(plot_history(ppl, title="rnn_scratch_lm: perplexity per epoch"),
                     "perplexity.png")
    lesson.note("largest gradient norm before clipping", f"{max(norms.norms):.2f}")
    lesson.check("held-out perplexity", ppl["val_perplexity"][-1], below=0.7 * baseline)
    prefix = lesson.lm_prefix
    lesson.note("generated", repr(predict_lm(prefix, 50, net, vocab)))
    lesson.finish()


if __name__ == "__main__":
    run(main)
