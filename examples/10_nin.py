"""Network in Network replaces the dense layers by 1x1 convolutions and global average pooling.

Lesson: 10. Network in network (NiN)
The zoo's get_model("nin"): four NiN blocks (a kxk convolution followed by
two 1x1 convolutions, each with ReLU), the last with one channel per class,
then global average pooling: no dense layer at all.  Registered for the
course's 224x224 inputs; since nothing in NiN fixes the size, the lesson
builds it with an explicit config for 96x96 (68x68 under --quick, on 3,000
digits).  NiN starts slowly: its last ReLU can zero every class score (an
Adam step of 3e-3 left it stuck there on these digits).  Data: MNIST digits
offline (mnist-5k); Fashion-MNIST with --data-root.
Quick run: python examples/10_nin.py --quick --out /tmp/lesson10
"""
from gluon_dl import fit, get_config, get_model, plot_history
from gluon_dl.classify import image_loaders, predict_labels, show_misclassified, subset
from gluon_dl.data import dataset_info
from gluon_dl.lesson import Lesson, run


def main():
    lesson = Lesson(__doc__)
    official, default = "fashion-mnist", "mnist-5k"
    data = lesson.image_data(official, default)
    labels = dataset_info(official if lesson.args.data_root else default).classes
    data = subset(data, *lesson.pick(full=(None, None), quick=(3000, 500), smoke=(64, 64)))
    image_size = lesson.pick(full=96, quick=68)
    config = get_config("nin").replace(input_shape=(1, image_size, image_size),
                                       test_input_shape=None)
    net = get_model("nin", config=config)
    lesson.note("model", "nin")
    lesson.note("image size", f"{image_size}x{image_size}")

    train_iter, test_iter = image_loaders(data, net.config, batch_size=32,
                                          seed=lesson.args.seed)
    history = fit(net, train_iter, lesson.pick(full=5, quick=2, smoke=1), optimizer="adam",
                  lr=2e-3, val_iter=test_iter, progress=False, seed=lesson.args.seed)
    lesson.save_plot(plot_history(history, title=f"NiN at {image_size}x{image_size}"),
                     "training_curves.png")
    lesson.check("test accuracy", history.history["val_acc"][-1], above=0.4)
    y_hat = predict_labels(net, data[2], net.config)
    lesson.save_plot(show_misclassified(data[2], data[3], y_hat, labels), "misclassified.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
