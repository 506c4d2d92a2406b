"""Softmax regression classifies images with one linear layer and the cross-entropy loss.

Lesson: 2. Softmax regression
The zoo's get_model("softmax_regression") (one dense layer on the flattened
28x28 pixels; the softmax lives in the cross-entropy loss) trained by
gluon_dl.fit with minibatch SGD, the curves drawn live by AnimatorCallback,
and the test images it gets wrong.  Data: 5,000 MNIST digits offline
(mnist-5k); Fashion-MNIST with --data-root.
Quick run: python examples/02_softmax_regression.py --quick --out /tmp/lesson02
"""
from gluon_dl import AnimatorCallback, fit, get_model
from gluon_dl.classify import image_loaders, predict_labels, show_misclassified, subset
from gluon_dl.data import dataset_info
from gluon_dl.lesson import Lesson, run
from gluon_dl.training import evaluate_accuracy


def main():
    lesson = Lesson(__doc__)
    official, default = "fashion-mnist", "mnist-5k"
    data = lesson.image_data(official, default)
    labels = dataset_info(official if lesson.args.data_root else default).classes
    data = subset(data, *lesson.pick(full=(None, None), quick=(None, None), smoke=(256, 256)))
    num_epochs = lesson.pick(full=10, quick=5, smoke=1)

    net = get_model("softmax_regression")
    lesson.note("model", "softmax_regression")
    train_iter, test_iter = image_loaders(data, net.config, batch_size=256,
                                          seed=lesson.args.seed)
    animator = AnimatorCallback(keys=["loss", "acc", "val_acc"], ylim=(0, 1.5))
    fit(net, train_iter, num_epochs, optimizer="sgd", lr=0.1, val_iter=test_iter,
        callbacks=[animator], progress=False, seed=lesson.args.seed)
    lesson.save_plot(animator.animator.fig, "training_curves.png")

    lesson.check("test accuracy", evaluate_accuracy(net, test_iter), above=0.75)
    X_test, y_test = data[2], data[3]
    y_hat = predict_labels(net, X_test, net.config)
    lesson.save_plot(show_misclassified(X_test, y_test, y_hat, labels), "misclassified.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
