"""Channel pruning in rounds: the per-round fractions, the rounds, and their reports."""
import math

import numpy as np
import pytest

from deploy.prune import channel_sparsity_steps
from gluon_dl.errors import ArgumentError, ArgumentTypeError


@pytest.mark.parametrize("steps", [1, 2, 3, 5])
@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.75, 0.9])
def test_rounds_compound_to_the_total_sparsity(sparsity, steps):
    fractions = channel_sparsity_steps(sparsity, steps)
    assert len(fractions) == steps
    assert math.prod(1 - f for f in fractions) == pytest.approx(1 - sparsity, abs=1e-9)
    # Equal cuts of the original width: each round takes a larger share of what is left.
    assert all(0 < a <= b < 1 for a, b in zip(fractions, fractions[1:] + [0.999]))


def test_one_round_is_the_one_shot_sparsity_and_two_rounds_of_half_are_a_quarter_then_a_third():
    assert channel_sparsity_steps(0.5, 1) == [0.5]
    assert channel_sparsity_steps(0.5, 2) == pytest.approx([0.25, 1 / 3])


@pytest.mark.parametrize("sparsity, steps, error", [
    (0.0, 2, ArgumentError), (1.0, 2, ArgumentError), (0.5, 0, ArgumentError),
    ("0.5", 2, ArgumentTypeError), (0.5, 2.0, ArgumentTypeError), (True, 2, ArgumentTypeError)])
def test_bad_arguments_are_named(sparsity, steps, error):
    with pytest.raises(error, match="sparsity|steps"):
        channel_sparsity_steps(sparsity, steps)


# ------------------------------------------------------------------ with MXNet

mx = pytest.importorskip("mxnet")
from deploy.prune import (MagnitudePruner, PolynomialDecay, named_prunable_parameters,  # noqa: E402
                          prune_channels, prune_channels_gradually)
from gluon_dl.models import get_model  # noqa: E402


@pytest.fixture(scope="module")
def lenet():
    mx.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 28, 28)))
    return net


def _weights(net):
    return {p.name: p.data().asnumpy() for p in net.collect_params().values()}


def _by_layer(net):
    return {layer: p.data().asnumpy() for layer, _, p in named_prunable_parameters(net)}


def test_rounds_call_fine_tune_with_each_smaller_net_and_chain_their_reports(lenet):
    seen = []
    pruned, reports = prune_channels_gradually(
        lenet, 0.5, config=lenet.config, steps=2,
        fine_tune=lambda net, step: seen.append((step, net)))
    assert [step for step, _ in seen] == [0, 1] and seen[-1][1] is pruned
    assert len(reports) == 2 and reports[0].params[1] == reports[1].params[0]
    assert reports[0].params[0] == 61706 and reports[-1].params[1] < reports[0].params[1]
    channels = {r.layer: r.channels for r in reports[-1].rows}
    # 16 -> 12 -> 8, 120 -> 90 -> 60, 84 -> 63 -> 42; the 6 filters of the first layer lose
    # one per round (floor(1.5), floor(5/3)): 4 left, where one cut leaves 3.
    assert channels["features.2"] == (12, 8) and channels["features.5"] == (90, 60)
    assert channels["features.6"] == (63, 42) and channels["features.0"] == (5, 4)
    assert pruned(mx.nd.zeros((2, 1, 28, 28))).shape == (2, 10)


def test_without_training_the_first_layer_keeps_its_largest_filters_round_after_round(lenet):
    # The first layer reads the image, whose channels no round removes, so its L1 ranking is
    # the same in every round: the 3 filters one cut keeps are among the 4 two rounds keep.
    # (Deeper layers lose input columns between rounds, which changes their ranking.)
    gradual, _ = prune_channels_gradually(lenet, 0.5, config=lenet.config, steps=2,
                                          fine_tune=lambda net, step: None)
    once, _ = prune_channels(lenet, 0.5, config=lenet.config)
    a, b = _by_layer(gradual)["features.0"], _by_layer(once)["features.0"]
    assert a.shape == (4, 1, 5, 5) and b.shape == (3, 1, 5, 5)
    assert all(any(np.array_equal(f, g) for g in a) for f in b)


def test_the_original_is_left_alone_and_bad_fine_tune_is_named(lenet):
    before = _weights(lenet)
    with pytest.raises(ArgumentTypeError, match="fine_tune"):
        prune_channels_gradually(lenet, 0.5, config=lenet.config, steps=2, fine_tune=None)
    prune_channels_gradually(lenet, 0.5, config=lenet.config, steps=3,
                             fine_tune=lambda net, step: None)
    after = _weights(lenet)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_magnitude_pruning_finds_a_pruned_nets_weights_by_their_original_layer_paths(lenet):
    pruned, _ = prune_channels(lenet, 0.5, config=lenet.config)
    pruner = MagnitudePruner(pruned, PolynomialDecay(0.0, 0.8, 0, 10), exclude=["features.0"])
    assert pruner.keys == ["features.2.weight", "features.5.weight", "features.6.weight",
                           "output.weight"]
    pruner.update(10)
    sparsity = {r["layer"]: r["sparsity"] for r in pruner.sparsity_report()}
    assert sparsity["features.5"] == pytest.approx(0.8, abs=1e-3)
    assert sparsity.keys() == {"features.2", "features.5", "features.6", "output"}
    assert np.count_nonzero(_by_layer(pruned)["features.0"] == 0) == 0
