"""Pretraining BERT: masked language modeling and next-sentence prediction.

get_model("bert_small") is a Transformer encoder over "<cls> sentence A <sep> sentence B
<sep>" with token, segment and position embeddings, and two heads: the masked LM predicts
the 15% of tokens hidden behind <mask> (or swapped, or kept), the next-sentence head tells
from <cls> whether B followed A.  gluon_dl.data.bert builds the examples and
gluon_dl.losses.BERTPretrainingLoss adds the two losses, so fit pretrains it.  At this
scale the masked LM learns the words' frequencies and the next-sentence head learns the
training pairs; telling held-out pairs apart takes far more text and steps.
Data: offline, the prose of Python's reference documentation (python-docs);
--data-root DIR pretrains on WikiText-2.
Quick run: python examples/23_bert_pretraining.py --quick --out /tmp/bert

Lesson: 23. Pretraining BERT
"""
import mxnet as mx

from gluon_dl import fit, get_model, plot_history
from gluon_dl.data import ArrayLoader
from gluon_dl.data.bert import evaluate_pretraining, load_data_bert
from gluon_dl.lesson import Lesson, run
from gluon_dl.losses import BERTPretrainingLoss
from gluon_dl.training.callbacks import Callback

MAX_LEN = 64  # tokens per example: <cls> A <sep> B <sep> and padding


class PretrainingCurves(Callback):
    """After every epoch, both heads' losses and accuracies on training and held-out data."""

    def __init__(self, train_iter, val_iter):
        self.iters, self.history = {"": train_iter, "val_": val_iter}, {}

    def on_epoch_end(self, epoch, logs=None):
        for prefix, data in self.iters.items():
            for name, value in evaluate_pretraining(self.net, data).items():
                self.history.setdefault(prefix + name, []).append(value)


def main():
    lesson = Lesson(__doc__)
    seed, root = lesson.args.seed, lesson.args.data_root
    text = lesson.data("wikitext-2", "python-docs")
    loader, vocab = load_data_bert(text, 64, MAX_LEN, seed=seed,
                                   num_examples=lesson.pick(full=None, quick=3000, smoke=128))
    test, _ = load_data_bert("wikitext-2" if root else "python-docs", 128, MAX_LEN,
                             split="test", root=root, vocab=vocab, seed=seed + 1,
                             num_examples=lesson.pick(2000, 500, 64), shuffle=False)
    # a fixed slice of the training examples, to score what the model learned of them
    seen = ArrayLoader(*[tuple(a[:512] for a in arrays) for arrays in (loader.X, loader.y)],
                       128)

    net = get_model("bert_small", vocab_size=len(vocab), max_len=MAX_LEN)
    lesson.note("model", "bert_small")
    lesson.note("examples (training, held-out)", f"{len(loader.X[0])}, {len(test.X[0])}")
    net.initialize(mx.init.Xavier())
    untrained = evaluate_pretraining(net, test)
    curves = PretrainingCurves(seen, test)
    fit(net, loader, lesson.pick(full=50, quick=10, smoke=1), loss=BERTPretrainingLoss(),
        lr=2e-3, progress=False, callbacks=[curves])
    lesson.save_plot(plot_history(curves.history, title="masked LM and next sentence"),
                     "pretraining.png")

    final = {name: values[-1] for name, values in curves.history.items()}
    lesson.note("held-out masked-LM loss before training", f"{untrained['mlm_loss']:.3f}")
    lesson.check("held-out masked-LM loss", final["val_mlm_loss"],
                 below=0.88 * untrained["mlm_loss"])
    lesson.check("next-sentence accuracy (training pairs)", final["nsp_acc"], above=0.7)
    lesson.note("next-sentence loss (training pairs)",
                f"{curves.history['nsp_loss'][0]:.3f} -> {final['nsp_loss']:.3f}")
    lesson.note("held-out next-sentence accuracy", f"{final['val_nsp_acc']:.3f}")
    lesson.note("held-out masked-LM accuracy", f"{final['val_mlm_acc']:.3f}")
    lesson.finish()


if __name__ == "__main__":
    run(main)
