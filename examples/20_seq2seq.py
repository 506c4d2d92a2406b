"""Sequence to sequence learning: a GRU encoder-decoder learns to translate.

The encoder of get_model("seq2seq_gru") reads the source sentence into a state; the
decoder starts from it and, in training, reads the target shifted right behind <bos>
(teacher forcing), scored by the masked softmax cross-entropy that ignores the padding.
Translation is greedy, token by token, and BLEU scores it on held-out pairs.
Data: offline, a synthetic language whose sentences translate into their reversal
(gluon_dl.data.reverse_pairs); --data-root DIR trains on English-French (fra-eng).
Quick run: python examples/20_seq2seq.py --quick --out /tmp/seq2seq

Lesson: 20. Sequence to sequence learning
"""
import mxnet as mx

from gluon_dl import fit, get_model, plot_history
from gluon_dl.data import load_dataset, reverse_pairs
from gluon_dl.data.nmt import load_data_nmt, tokenize_nmt
from gluon_dl.lesson import Lesson, run
from gluon_dl.losses import MaskedSoftmaxCELoss
from gluon_dl.metrics import bleu, evaluate_bleu

NUM_STEPS, LENGTH = 10, (3, 8)  # tokens per padded sentence; synthetic sentence lengths


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

    net = get_model("seq2seq_gru", src_vocab=len(src_vocab), tgt_vocab=len(tgt_vocab),
                    num_steps=NUM_STEPS)
    lesson.note("model", "seq2seq_gru")
    net.initialize(mx.init.Xavier())
    untrained, _ = evaluate_bleu(net, source, target, src_vocab, tgt_vocab, NUM_STEPS)
    history = fit(net, loader, lesson.pick(full=30, quick=10, smoke=1),
                  loss=MaskedSoftmaxCELoss(), lr=5e-3, progress=False)
    lesson.save_plot(plot_history(history, title="masked cross-entropy (training)"),
                     "loss.png")

    score, translations = evaluate_bleu(net, source, target, src_vocab, tgt_vocab, NUM_STEPS)
    for i in range(3):
        lesson.note(f"translation {i + 1}", f"{' '.join(source[i])} => "
                    f"{' '.join(translations[i])} (BLEU {bleu(translations[i], target[i]):.3f})")
    lesson.note("held-out BLEU before training", f"{untrained:.3f}")
    # an untrained decoder scores near 0; fra-eng is far harder than the synthetic language
    lesson.check("held-out BLEU", score, above=untrained + (0.15 if official else 0.5))
    lesson.finish()


if __name__ == "__main__":
    run(main)
