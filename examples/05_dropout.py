"""Dropout zeroes random hidden units while training, so the network cannot lean on any one of them.

Lesson: 5. Dropout
The zoo's get_model("mlp") (784-256-256-10) with d2l's dropout of 0.2 and
0.5 after the hidden layers, against the same network built with
dropout=() and trained identically on a small slice of the training set,
where a network this size overfits.  Both through gluon_dl.fit with SGD;
plot_history draws the two runs' curves, and both test accuracies and
train-test gaps are reported as measured (at --quick scale they differ by
about a point, either way, from seed to seed).  Data: MNIST
digits offline (mnist-5k); Fashion-MNIST with --data-root.
Quick run: python examples/05_dropout.py --quick --out /tmp/lesson05
"""
from gluon_dl import fit, get_model, plot_history
from gluon_dl.classify import image_loaders, subset
from gluon_dl.lesson import Lesson, run
from gluon_dl.training import evaluate_accuracy


def train(lesson, data, num_epochs, **mlp_args):
    net = get_model("mlp", **mlp_args)
    train_iter, test_iter = image_loaders(data, net.config, batch_size=64,
                                          seed=lesson.args.seed)
    history = fit(net, train_iter, num_epochs, optimizer="sgd", lr=0.2, val_iter=test_iter,
                  progress=False, seed=lesson.args.seed)
    train_acc = evaluate_accuracy(net, image_loaders(data, net.config, 256)[0])
    return history, train_acc, history.history["val_acc"][-1]


def main():
    lesson = Lesson(__doc__)
    data = lesson.image_data(official="fashion-mnist", default="mnist-5k")
    data = subset(data, *lesson.pick(full=(2000, None), quick=(1000, None), smoke=(256, 256)))
    num_epochs = lesson.pick(full=40, quick=15, smoke=1)
    lesson.note("model", "mlp")
    lesson.note("training samples", len(data[0]))

    runs = {"dropout 0.2, 0.5": train(lesson, data, num_epochs),
            "no dropout": train(lesson, data, num_epochs, dropout=())}
    fig = plot_history({name: h for name, (h, _, _) in runs.items()},
                       title="MLP with and without dropout (one run after the other)")
    lesson.save_plot(fig, "dropout_vs_none.png")
    (_, train_d, test_d), (_, train_n, test_n) = runs.values()
    lesson.check("test accuracy with dropout", test_d, above=0.85)
    lesson.note("test accuracy without dropout", f"{test_n:.4f}")
    lesson.note("train - test accuracy, dropout / none", f"{train_d - test_d:.4f} / "
                                                         f"{train_n - test_n:.4f}")
    lesson.finish()


if __name__ == "__main__":
    run(main)
