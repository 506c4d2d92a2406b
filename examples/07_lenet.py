"""LeNet, the first convolutional network, reads digits through local filters and pooling.

Lesson: 7. Convolutional neural networks (LeNet)
The zoo's get_model("lenet5"): two 5x5 convolutions with max pooling and
three dense layers, with ReLU (the 1998 sigmoid version is
activation="sigmoid"; lesson 6 shows how slowly it starts).  Trained by
gluon_dl.fit with SGD and momentum; plot_history draws the curves and
show_images the test images it gets wrong.  Data: MNIST digits offline
(mnist-5k); Fashion-MNIST with --data-root.
Quick run: python examples/07_lenet.py --quick --out /tmp/lesson07
"""
from gluon_dl import fit, get_model, plot_history
from gluon_dl.classify import image_loaders, predict_labels, show_misclassified, subset
from gluon_dl.data import dataset_info
from gluon_dl.lesson import Lesson, run


def main():
    lesson = Lesson(__doc__)
    official, default = "fashion-mnist", "mnist-5k"
    data = lesson.image_data(official, default)
    labels = dataset_info(official if lesson.args.data_root else default).classes
    data = subset(data, *lesson.pick(full=(None, None), quick=(None, None), smoke=(256, 256)))
    num_epochs = lesson.pick(full=10, quick=3, smoke=1)

    net = get_model("lenet5")
    lesson.note("model", "lenet5")
    train_iter, test_iter = image_loaders(data, net.config, batch_size=64,
                                          seed=lesson.args.seed)
    history = fit(net, train_iter, num_epochs, optimizer="sgd", lr=0.05,
                  optimizer_params={"momentum": 0.9}, val_iter=test_iter, progress=False,
                  seed=lesson.args.seed)
    lesson.save_plot(plot_history(history, title="LeNet-5"), "training_curves.png")

    lesson.check("test accuracy", history.history["val_acc"][-1], above=0.9)
    X_test, y_test = data[2], data[3]
    y_hat = predict_labels(net, X_test, net.config)
    lesson.save_plot(show_misclassified(X_test, y_test, y_hat, labels), "misclassified.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
