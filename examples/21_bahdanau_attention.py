"""Bahdanau attention: the decoder looks back at every source token while it translates.

get_model("seq2seq_attention") is the GRU encoder-decoder of lesson 20 whose decoder, at
each step, queries the encoder's outputs with additive attention and reads their weighted
sum as its context, instead of one fixed summary of the source.  The attention weights
of a translation (gluon_dl.predict_seq2seq) are drawn as a heatmap: for reversal, the
decoder learns to look at (or next to) the mirrored source token, an anti-diagonal.
Data: offline, sentences of 4 to 12 digit words translated into their reversal
(gluon_dl.data.reverse_pairs), longer than lesson 20's; --data-root DIR trains on fra-eng.
Quick run: python examples/21_bahdanau_attention.py --quick --out /tmp/bahdanau

Lesson: 21. Bahdanau attention
"""
import mxnet as mx
import numpy as np

from gluon_dl import fit, get_model, plot_history, predict_seq2seq, show_heatmaps
from gluon_dl.data import load_dataset, reverse_pairs
from gluon_dl.data.nmt import load_data_nmt, tokenize_nmt
from gluon_dl.lesson import Lesson, run
from gluon_dl.losses import MaskedSoftmaxCELoss
from gluon_dl.metrics import evaluate_bleu

NUM_STEPS, LENGTH = 14, (4, 12)  # tokens per padded sentence; synthetic sentence lengths


def main():
    lesson = Lesson(__doc__)
    seed, official = lesson.args.seed, lesson.args.data_root is not None
    n = lesson.pick(full=20000, quick=3000, smoke=256)

    def reversed_sentences():  # the offline default: digits as words, the target reversed
        return reverse_pairs(n, LENGTH, seed=seed)

    pairs = lesson.data("fra-eng", reversed_sentences)
    held_out = (load_dataset("fra-eng", "test", root=lesson.args.data_root) if official
                else reverse_pairs(200, LENGTH, seed=seed + 10 ** 6))
    loader, src_vocab, tgt_vocab = load_data_nmt(pairs, 64, NUM_STEPS, num_examples=n,
                                                 seed=seed)
    source, target = tokenize_nmt(held_out, num_examples=lesson.pick(500, 200, 32))

    net = get_model("seq2seq_attention", src_vocab=len(src_vocab), tgt_vocab=len(tgt_vocab),
                    num_steps=NUM_STEPS)
    lesson.note("model", "seq2seq_attention")
    net.initialize(mx.init.Xavier())
    untrained, _ = evaluate_bleu(net, source, target, src_vocab, tgt_vocab, NUM_STEPS)
    history = fit(net, loader, lesson.pick(full=30, quick=10, smoke=1),
                  loss=MaskedSoftmaxCELoss(), lr=5e-3, progress=False)
    lesson.save_plot(plot_history(history, title="masked cross-entropy (training)"),
                     "loss.png")

    # The attention of one translation: a row per decoding step over the source's tokens.
    src = source[0]
    translation, attention = predict_seq2seq(net, src, src_vocab, tgt_vocab, NUM_STEPS)
    lesson.note("translation", f"{' '.join(src)} => {translation}")
    steps = min(len(src), attention.shape[2])
    # the encoder's output one position later still holds a token, so "near" counts too
    mirrored = np.mean([abs(attention[0, 0, i].argmax() - (len(src) - 1 - i)) <= 1
                        for i in range(steps)])
    lesson.note("decoding steps attending most at or next to the mirrored token",
                f"{mirrored:.0%}")
    lesson.save_plot(show_heatmaps(attention, xlabel="source position (last: <eos>)",
                                   ylabel="decoding step"), "attention.png")

    score, _ = evaluate_bleu(net, source, target, src_vocab, tgt_vocab, NUM_STEPS)
    lesson.note("held-out BLEU before training", f"{untrained:.3f}")
    # an untrained decoder scores near 0; fra-eng is far harder than the synthetic language
    lesson.check("held-out BLEU", score, above=untrained + (0.15 if official else 0.5))
    lesson.finish()


if __name__ == "__main__":
    run(main)
