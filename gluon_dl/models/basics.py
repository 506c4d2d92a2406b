"""The first networks of the course: linear, softmax regression and the MLP.

All three are one block, :class:`MLP`, with different hidden layers: no
hidden layer and one output is linear regression, no hidden layer and ten
outputs is softmax regression (the softmax lives in the loss), two hidden
ReLU layers with dropout is the multilayer perceptron.

Regularization (lesson: weight decay).  L2 regularization is Trainer
weight decay: ``gluon.Trainer(net.collect_params(), "sgd", {"wd": lambd})``,
which for SGD equals adding ``lambd * l2_penalty(net)`` to the loss.  Exclude
biases as the course does with ``net.collect_params(".*bias").setattr("wd_mult", 0)``.
:func:`l2_penalty` and :func:`l1_penalty` are there for the lesson that writes
the penalty into the loss by hand (and for L1, which Trainer lacks).
"""
from mxnet.gluon import nn

from ..errors import ArgumentError
from ._config import ModelConfig
from ._registry import register_model

__all__ = ["MLP", "l1_penalty", "l2_penalty", "linreg", "mlp", "softmax_regression"]

_DIGITS = dict(input_shape=(1, 28, 28), layout="NCHW", mean=(0.1307,), std=(0.3081,),
               num_classes=10, labels=tuple(str(i) for i in range(10)))

# name: (hidden units, dropout after each hidden layer, outputs, config)
basics_spec = {
    "linreg": ((), (), 1, ModelConfig(
        name="linreg", input_shape=(2,), layout="NC", task="regression", reference_params=3,
        paper="Legendre 1805 / Gauss 1809, the method of least squares",
        lesson="Linear neural networks: linear regression")),
    "softmax_regression": ((), (), 10, ModelConfig(
        name="softmax_regression", reference_params=784 * 10 + 10,
        paper="Cox 1958, The regression analysis of binary sequences (multinomial logistic)",
        lesson="Linear neural networks: softmax regression", **_DIGITS)),
    "mlp": ((256, 256), (0.2, 0.5), 10, ModelConfig(
        name="mlp", reference_params=784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10,
        paper="Rumelhart, Hinton & Williams 1986, Learning representations by "
              "back-propagating errors; Srivastava et al. 2014, Dropout",
        lesson="Multilayer perceptrons: MLP, dropout and weight decay", **_DIGITS)),
}


class MLP(nn.HybridBlock):
    """Flatten, ``len(hidden_units)`` dense layers with dropout, one output layer.

    Parameters
    ----------
    hidden_units : sequence of int
        Width of each hidden layer; empty for linear/softmax regression.
    dropout : sequence of float
        Dropout probability after each hidden layer (active only in training).
    num_outputs : int
        Output width: 1 for regression, the number of classes otherwise.
    activation : str
        Activation of the hidden layers.
    """

    def __init__(self, hidden_units=(), dropout=(), num_outputs=10, activation="relu",
                 **kwargs):
        super().__init__(**kwargs)
        if len(dropout) not in (0, len(hidden_units)):
            raise ArgumentError(f"MLP: {len(dropout)} dropout rates for {len(hidden_units)} "
                             "hidden layers; give one per hidden layer or none")
        rates = tuple(dropout) or (0.0,) * len(hidden_units)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Flatten())
            for units, rate in zip(hidden_units, rates):
                self.features.add(nn.Dense(units, activation=activation))
                if rate:
                    self.features.add(nn.Dropout(rate))
            self.output = nn.Dense(num_outputs)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def _build(name, num_classes=None, **kwargs):
    hidden, dropout, outputs, _ = basics_spec[name]
    kwargs.setdefault("hidden_units", hidden)
    kwargs.setdefault("dropout", dropout)
    return MLP(num_outputs=num_classes or outputs, **kwargs)


@register_model(config=basics_spec["linreg"][3])
def linreg(**kwargs):
    """Linear regression ``y = Xw + b`` on 2 features (the course's synthetic data)."""
    return _build("linreg", **kwargs)


@register_model(config=basics_spec["softmax_regression"][3])
def softmax_regression(num_classes=10, **kwargs):
    """Softmax regression on 1x28x28 images: one dense layer of ``num_classes``."""
    return _build("softmax_regression", num_classes, **kwargs)


@register_model(config=basics_spec["mlp"][3])
def mlp(num_classes=10, **kwargs):
    """784-256-256-10 ReLU MLP with dropout 0.2 and 0.5 (the course's dropout lesson)."""
    return _build("mlp", num_classes, **kwargs)


def _weights(net):
    return [p for name, p in net.collect_params().items()
            if name.endswith("weight") and p.grad_req != "null"]


def l2_penalty(net):
    """``sum(w ** 2) / 2`` over the weights (not biases) of ``net``.

    Adding ``lambd * l2_penalty(net)`` to the loss is what Trainer's
    ``wd=lambd`` does for SGD; prefer ``wd`` in practice.
    """
    return sum((p.data() ** 2).sum() for p in _weights(net)) / 2


def l1_penalty(net):
    """``sum(|w|)`` over the weights (not biases) of ``net``: add ``lambd *`` it to the loss."""
    return sum(p.data().abs().sum() for p in _weights(net))
