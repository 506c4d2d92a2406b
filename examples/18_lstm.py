"""Long short-term memory: an LSTM language model from its gates, then gluon.rnn.LSTM.

A memory cell C carries information across many steps: the forget gate F scales the old
cell, the input gate I admits the candidate, the output gate O reads it out:
C_t = F * C_{t-1} + I * tanh(X W_xc + H W_hc + b_c), H_t = O * tanh(C_t).
get_model("lstm_scratch_lm") writes these equations out; get_model("lstm_lm") runs MXNet's
fused LSTM layer. Both train with gradient clipping and are compared by perplexity.
Data: Python's reference documentation (python-docs, offline); --data-root DIR reads
The Time Machine (time-machine). Quick run: python examples/18_lstm.py --quick

Lesson: 18. Long short-term memory (LSTM)
"""
import math

from gluon_dl import fit, get_model, plot_history, predict_lm
from gluon_dl.lesson import Lesson, run
from gluon_dl.training import GradientClipping

BATCH_SIZE, NUM_HIDDENS = 32, 128


def main():
    lesson = Lesson(__doc__)
    num_steps, seed = lesson.pick(full=35, quick=16, smoke=5), lesson.args.seed
    train_iter, test_iter, vocab, baseline = lesson.lm_data(
        BATCH_SIZE, num_steps, max_tokens=lesson.pick(full=None, quick=30000, smoke=1000),
        max_held_out=lesson.pick(full=None, quick=5000, smoke=1000))
    lesson.note("model", "lstm_scratch_lm and lstm_lm")
    prefix = lesson.lm_prefix

    curves = {}
    for name, extra in (("lstm_scratch_lm", {"num_steps": num_steps}), ("lstm_lm", {})):
        net = get_model(name, vocab_size=len(vocab), num_hiddens=NUM_HIDDENS, **extra)
        history = fit(net, train_iter, lesson.pick(full=30, quick=2, smoke=1), lr=0.01,
                      val_iter=test_iter, callbacks=[GradientClipping(1.0)], progress=False,
                      seed=seed)
        for key in ("loss", "val_loss"):  # one panel per model, training and held out
            curves[key.replace("loss", f"{name} perplexity")] = \
                [math.exp(v) for v in history.history[key]]
        lesson.check(f"{name} held-out perplexity", curves[f"val_{name} perplexity"][-1],
                     below=0.7 * baseline)
        lesson.note(f"{name} generated", repr(predict_lm(prefix, 50, net, vocab)))
    lesson.save_plot(plot_history(curves, title="LSTM from scratch, then gluon.rnn.LSTM: "
                                                "perplexity per epoch"), "perplexity.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
