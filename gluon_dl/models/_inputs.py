"""Example inputs and parameter counts derived from a model's config."""
import numpy as np

from ..errors import ArgumentError


def example_inputs(config, batch=2, seed=0, small=False):
    """Random inputs that fit every input of ``config``, as NDArrays.

    Float inputs are standard normal (what the network sees after
    normalization); integer inputs are uniform over their ``value_range``.

    Parameters
    ----------
    config : ModelConfig
    batch : int
    seed : int
    small : bool
        Use ``config.test_input_shape`` for the primary input when set.
    """
    import mxnet as mx

    rng = np.random.RandomState(seed)
    arrays = []
    for i, spec in enumerate(config.inputs):
        shape = spec.shape
        if i == 0 and small and config.test_input_shape is not None:
            shape = tuple(config.test_input_shape)
        full = (batch,) + tuple(shape)
        if np.dtype(spec.dtype).kind in "iu":
            lo, hi = spec.value_range
            a = rng.randint(int(lo), int(hi), size=full)
        else:
            a = rng.randn(*full)
        arrays.append(mx.nd.array(a, dtype=spec.dtype))
    return arrays


def count_parameters(net, config=None, trainable_only=True):
    """Number of (trainable) parameters of ``net`` at ``config``'s input shapes.

    Shapes are inferred symbolically, so even ImageNet-sized networks are
    counted without running a forward pass or allocating their weights.
    """
    import mxnet as mx

    config = config or net.config
    sym = net(*[mx.sym.var(name) for name in config.input_names])
    if isinstance(sym, (list, tuple)):
        sym = mx.sym.Group(list(sym))
    shapes = {spec.name: (1,) + tuple(spec.shape) for spec in config.inputs}
    arg_shapes, _, aux_shapes = sym.infer_shape_partial(**shapes)
    named = dict(zip(sym.list_arguments(), arg_shapes))
    params = net.collect_params()
    total = 0
    for name, p in params.items():
        if trainable_only and p.grad_req == "null":
            continue
        shape = named.get(name) or p.shape
        if shape is None or any(d == 0 for d in shape):
            raise ArgumentError(f"cannot infer the shape of parameter '{name}' from the inputs "
                             f"{shapes}")
        total += int(np.prod(shape))
    return total
