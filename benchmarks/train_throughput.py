"""Training throughput (samples/s) per registered model, hybridized vs imperative.

For each model, a hybridized copy and an imperative copy (same weights)
train on the same fixed batch in interleaved rounds, so host drift between
fast and slow states hits both alike; the ratio is computed inside each round
and the table shows medians.

Usage::

    python benchmarks/train_throughput.py                     # every model at test size
    python benchmarks/train_throughput.py --pattern "resnet*" --full-size --batch 8
"""
import argparse
import statistics
import time

import numpy as np

import _host


def _loss_fn(config):
    from mxnet import gluon

    if config.task in ("classification", "language-model"):
        ce = gluon.loss.SoftmaxCrossEntropyLoss()
        return lambda out, y: ce(out, y)
    return lambda out, y: out.astype("float32").square().mean()


def _first(out):
    return out[0] if isinstance(out, (list, tuple)) else out


def _rest(out):
    """Every output after the first, flattened (auxiliary heads train too)."""
    if not isinstance(out, (list, tuple)):
        return []
    return [o for o in out[1:] if hasattr(o, "dtype") and "float" in str(o.dtype)]


def _setup(name, batch, full_size, hybridize, seed=0):
    import mxnet as mx

    from gluon_dl.models import example_inputs, get_model

    mx.random.seed(seed)
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    cfg = net.config
    inputs = example_inputs(cfg, batch=batch, seed=seed, small=not full_size)
    out = _first(net(*inputs))
    labels = mx.nd.array(np.random.RandomState(seed).randint(0, max(out.shape[-1], 1),
                                                             out.shape[:-1]))
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1e-3})
    return net, inputs, labels, trainer, _loss_fn(cfg)


def _steps_per_second(net, inputs, labels, trainer, loss_fn, steps):
    import mxnet as mx
    from mxnet import autograd

    mx.nd.waitall()  # nothing queued by the previous measurement may spill into this one
    start = time.perf_counter()
    for _ in range(steps):
        with autograd.record():
            out = net(*inputs)
            loss = loss_fn(_first(out), labels).mean()
            for extra in _rest(out):  # keep every head's parameters in the update
                loss = loss + extra.astype("float32").square().mean()
        loss.backward()
        trainer.step(inputs[0].shape[0], ignore_stale_grad=True)
    mx.nd.waitall()  # the optimizer's updates are asynchronous too
    return steps / (time.perf_counter() - start)


def measure(name, batch, full_size, rounds, steps):
    runs = {mode: _setup(name, batch, full_size, mode == "hybridized")
            for mode in ("imperative", "hybridized")}
    for run in runs.values():  # warm-up: graph building, allocations
        _steps_per_second(*run, steps=2)
    rates = {mode: [] for mode in runs}
    for _ in range(rounds):
        for mode, run in runs.items():
            rates[mode].append(_steps_per_second(*run, steps=steps) * batch)
    ratio = statistics.median(h / i for h, i in zip(rates["hybridized"], rates["imperative"]))
    return {mode: statistics.median(r) for mode, r in rates.items()}, ratio


def main(argv=None):
    from gluon_dl.models import list_models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pattern", default="*")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="training steps per round")
    parser.add_argument("--full-size", action="store_true",
                        help="use each model's deployment input shape, not its test shape")
    args = parser.parse_args(argv)
    _host.print_header(torch=False)
    print(f"{'model':28s} {'imperative/s':>13s} {'hybridized/s':>13s} {'hybrid/imp':>11s}")
    slower = []
    for name in list_models(args.pattern):
        rates, ratio = measure(name, args.batch, args.full_size, args.rounds, args.steps)
        print(f"{name:28s} {rates['imperative']:13.1f} {rates['hybridized']:13.1f} "
              f"{ratio:10.2f}x", flush=True)
        if ratio < 1.0:
            slower.append(name)
    print(f"\nhybridized slower than imperative: {', '.join(slower) or 'none'}")


if __name__ == "__main__":
    main()
