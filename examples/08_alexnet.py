"""AlexNet: a deeper, wider LeNet with ReLU and dropout, the network that won ImageNet 2012.

Lesson: 8. Deep convolutional neural networks (AlexNet)
The zoo's get_model("alexnet_d2l"): the course's AlexNet for gray images
(an 11x11/4 convolution, then 5x5 and three 3x3 convolutions with 96-256-
384-384-256 channels and max pooling, two 4096-unit dense layers with
dropout 0.5).  It takes 96x96 images by default; --quick trains it on
1,500 digits at 68x68, the smallest its poolings take.  Data: MNIST digits
offline (mnist-5k); Fashion-MNIST with --data-root.
Quick run: python examples/08_alexnet.py --quick --out /tmp/lesson08
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
    data = subset(data, *lesson.pick(full=(None, None), quick=(1500, 500), smoke=(64, 64)))
    image_size = lesson.pick(full=96, quick=68)
    net = get_model("alexnet_d2l", image_size=image_size)
    lesson.note("model", "alexnet_d2l")
    lesson.note("image size", f"{image_size}x{image_size}")

    train_iter, test_iter = image_loaders(data, net.config, batch_size=32,
                                          seed=lesson.args.seed)
    # A small Adam step: at 1e-3 this AlexNet had barely left chance level after two epochs.
    history = fit(net, train_iter, lesson.pick(full=5, quick=2, smoke=1), optimizer="adam",
                  lr=1e-4, val_iter=test_iter, progress=False, seed=lesson.args.seed)
    lesson.save_plot(plot_history(history, title=f"AlexNet at {image_size}x{image_size}"),
                     "training_curves.png")
    lesson.check("test accuracy", history.history["val_acc"][-1], above=0.6)
    y_hat = predict_labels(net, data[2], net.config)
    lesson.save_plot(show_misclassified(data[2], data[3], y_hat, labels), "misclassified.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
