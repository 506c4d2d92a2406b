"""A multilayer perceptron beats softmax regression by learning features in hidden layers.

Lesson: 3. Multilayer perceptrons
The zoo's get_model("mlp"): 784-256-256-10 with ReLU (and dropout, which
lesson 5 studies), trained by gluon_dl.fit with minibatch SGD; the training
and test curves are drawn with plot_history, and the test images it gets
wrong with show_images.  Data: 5,000 MNIST digits offline (mnist-5k);
Fashion-MNIST with --data-root.
Quick run: python examples/03_mlp.py --quick --out /tmp/lesson03
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
    num_epochs = lesson.pick(full=10, quick=5, smoke=1)

    net = get_model("mlp")
    lesson.note("model", "mlp")
    train_iter, test_iter = image_loaders(data, net.config, batch_size=128,
                                          seed=lesson.args.seed)
    history = fit(net, train_iter, num_epochs, optimizer="sgd", lr=0.1,
                  optimizer_params={"momentum": 0.9}, val_iter=test_iter, progress=False,
                  seed=lesson.args.seed)
    lesson.save_plot(plot_history(history, title="MLP 784-256-256-10"), "training_curves.png")

    lesson.check("test accuracy", history.history["val_acc"][-1], above=0.85)
    lesson.check("training loss, last epoch", history.history["loss"][-1], below=0.5)
    X_test, y_test = data[2], data[3]
    y_hat = predict_labels(net, X_test, net.config)
    lesson.save_plot(show_misclassified(X_test, y_test, y_hat, labels), "misclassified.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
