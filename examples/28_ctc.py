"""Text recognition: a CRNN trained with CTC reads strips of handwritten digits.

get_model("crnn") turns a 32-pixel-high image into one score vector per column
(convolutions, then a bidirectional LSTM); the CTC loss (gluon_dl.ctc.ctc_loss) sums over
every alignment of the digit sequence to the columns, so no character positions are
needed, and gluon_dl.ctc.greedy_decode reads the answer back.  Data: strips of 1 to 3
MNIST digits cut from the embedded mnist-5k (gluon_dl.data.digit_strips), test strips
from held-out digits; --data-root DIR cuts them from the official MNIST.
Quick run: python examples/28_ctc.py --quick --out /tmp/ctc

Lesson: 28. Text recognition: CRNN trained with CTC
"""
import numpy as np

from gluon_dl import fit, get_model, plot_history, show_images
from gluon_dl.ctc import ctc_loss, greedy_decode
from gluon_dl.data import ArrayLoader, digit_strips
from gluon_dl.lesson import Lesson, run
from gluon_dl.training import predict


def strips(config, n, X, y, seed):
    """``n`` strips of 1-3 digits padded to the model's width, and their padded labels."""
    images, labels = digit_strips(n, num_digits=(1, 3), X=X, y=y, height=32, seed=seed)
    width = config.input_shape[2]
    images = np.pad(images, ((0, 0), (0, 0), (0, width - images.shape[2])))
    x = config.normalize(config.scale_to_range(images[:, None]))
    return x.astype(np.float32), labels.astype(np.float32)


def main():
    lesson = Lesson(__doc__)
    net = get_model("crnn")
    lesson.note("model", "crnn")
    X_tr, y_tr, X_te, y_te = lesson.image_data(official="mnist", default="mnist-5k")
    seed = lesson.args.seed
    x_tr, l_tr = strips(net.config, lesson.pick(full=20000, quick=3000, smoke=64), X_tr, y_tr,
                        seed)
    x_te, l_te = strips(net.config, lesson.pick(full=2000, quick=500, smoke=32), X_te, y_te,
                        seed + 1)
    history = fit(net, ArrayLoader(x_tr, l_tr, 64, shuffle=True, seed=seed),
                  lesson.pick(full=15, quick=5, smoke=1), loss=ctc_loss(), lr=3e-3,
                  val_iter=ArrayLoader(x_te, l_te, 250), progress=False)
    lesson.save_plot(plot_history(history, title="CTC loss"), "ctc_loss.png")

    decoded = greedy_decode(predict(net, ArrayLoader(x_te, l_te, 250)))
    truth = [[int(c) for c in row if c >= 0] for row in l_te]
    hits = [d == t for d, t in zip(decoded, truth)]
    lesson.check("test sequence accuracy", np.mean(hits), above=0.5)
    lesson.note("test strips / digits", f"{len(truth)} / {sum(map(len, truth))}")
    titles = [f"{''.join(map(str, t))} -> {''.join(map(str, d)) or '(none)'}"
              for t, d in zip(truth[:8], decoded[:8])]
    lesson.save_plot(show_images(x_te[:8], 4, 2, titles=titles, scale=2.5), "readings.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
