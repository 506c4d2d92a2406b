"""Fine-tuning reuses features learned on a large set to learn a small one from few examples.

Lesson: 15. Fine-tuning
The course fine-tunes an ImageNet-pretrained ResNet on a small set of hot
dogs; no ImageNet weights exist offline, so here the zoo's
get_model("lenet5") is pretrained on 4,000 MNIST digits (mnist-5k) and then
fine-tuned on a few of scikit-learn's 8x8 digits (digits, framed like MNIST):
the pretrained features are kept, the output layer is new and learns 10x
faster.  The same network trained from scratch on the same few images is
the baseline; with 50 digits the gain swings with the seed (from none to
30 points over seeds 0-2), so it is reported as measured, not checked.
Data: offline only (mnist-5k, then digits).
Quick run: python examples/15_fine_tuning.py --quick --out /tmp/lesson15
"""
import numpy as np
from mxnet import init

from gluon_dl import fit, get_model, plot_history
from gluon_dl.classify import image_loaders, predict_labels, show_misclassified, subset
from gluon_dl.data import load_dataset, resize
from gluon_dl.lesson import Lesson, run


def to_8x8(X):
    """MNIST's 28x28 digits at the 8x8 resolution of the target set (3x3 block means)."""
    return X[:, 2:26, 2:26].reshape(-1, 8, 3, 8, 3).mean(axis=(2, 4)).round().astype(np.uint8)


def like_mnist(X):
    """8x8 digits framed as MNIST's: the digit resized to 20x20, centred in 28x28."""
    return np.pad(resize(X, 20), ((0, 0), (4, 4), (4, 4)))


def target_data(n_train):
    X_train, y_train = load_dataset("digits", split="train")
    X_test, y_test = load_dataset("digits", split="test")
    return subset((like_mnist(X_train), y_train, like_mnist(X_test), y_test), n_train)


def train(net, data, num_epochs, lr, seed):
    train_iter, test_iter = image_loaders(data, net.config, batch_size=32, seed=seed)
    return fit(net, train_iter, num_epochs, optimizer="sgd", lr=lr,
               optimizer_params={"momentum": 0.9}, val_iter=test_iter, progress=False,
               seed=seed)


def main():
    lesson = Lesson(__doc__)
    lesson.note("model", "lenet5")
    lesson.note("data", "mnist-5k (pretraining), then a few digits (8x8, resized), offline")
    seed = lesson.args.seed
    X, y, X_test, y_test = subset(lesson.image_data(official="mnist", default="mnist-5k"),
                                  *lesson.pick(full=(None, None), quick=(None, None),
                                               smoke=(256, 256)))
    # Both sets go through the same 8x8 pipeline, as a pretrained model's inputs must.
    source = (like_mnist(to_8x8(X)), y, like_mnist(to_8x8(X_test)), y_test)
    pretrained = get_model("lenet5")
    pretrain = train(pretrained, source, lesson.pick(full=5, quick=3, smoke=1), 0.05, seed)
    lesson.note("pretraining test accuracy (mnist)", f"{pretrain.history['val_acc'][-1]:.4f}")

    target = target_data(lesson.pick(full=50, quick=50, smoke=50))
    num_epochs = lesson.pick(full=20, quick=20, smoke=1)
    finetuned = get_model("lenet5")
    finetuned.features = pretrained.features          # the learned features, shared
    finetuned.output.initialize(init.Xavier())        # a new classifier...
    finetuned.output.collect_params().setattr("lr_mult", 10)  # ...that learns 10x faster
    histories = {"fine-tuned": train(finetuned, target, num_epochs, 0.01, seed),
                 "from scratch": train(get_model("lenet5"), target, num_epochs, 0.01, seed)}
    lesson.save_plot(plot_history(histories, title=f"{len(target[0])} training digits: "
                                  "fine-tuned, then from scratch"), "finetune_vs_scratch.png")

    fine, scratch = (h.history["val_acc"][-1] for h in histories.values())
    lesson.check("fine-tuned test accuracy", fine, above=0.6)
    lesson.note("from-scratch test accuracy", f"{scratch:.4f}")
    lesson.note("accuracy gained by pretraining", f"{fine - scratch:+.4f}")
    y_hat = predict_labels(finetuned, target[2], finetuned.config)
    lesson.save_plot(show_misclassified(target[2], target[3], y_hat, finetuned.config.labels),
                     "misclassified.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
