"""The committed export matrix: complete, rendered from its cache, verdicts that follow the
tolerances, and rows that regenerate to the same results."""
import json
from pathlib import Path

import numpy as np
import pytest

from deploy import matrix

DOC = Path(__file__).resolve().parents[1] / "docs" / "export_matrix.md"
CACHE = DOC.with_suffix(".json")


@pytest.fixture(scope="module")
def cache():
    if not CACHE.is_file():
        pytest.fail(f"{CACHE} is missing: run python -m deploy.matrix --out {DOC}")
    return json.loads(CACHE.read_text())


def _rows(text):
    return [line.split("|")[1].strip() for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| model")]


def test_document_has_a_row_per_registered_model():
    assert _rows(DOC.read_text()) == matrix.row_names()


def test_document_is_rendered_from_the_cache(cache):
    assert DOC.read_text() == matrix.render(cache, matrix.row_names())


def test_document_states_method_and_versions(cache):
    text = DOC.read_text()
    for needle in ("## Method", "relative error", "BatchNorm running statistics", "## Versions",
                   "onnx2tf", "tensorflow", "mxnet"):
        assert needle in text
    assert cache["versions"]["onnx2tf"] and cache["versions"]["mxnet"]


def test_every_cached_cell_follows_the_tolerances(cache):
    judged = 0
    for name, row in cache["rows"].items():
        assert set(row["cells"]) == set(matrix.COLUMNS), name
        for column, cell in row["cells"].items():
            if not cell["ok"]:
                assert cell["reason"], f"{name} {column} fails without a reason"
                continue
            if column in matrix.RELATIVE_TOLERANCE:
                assert cell["rel"] <= matrix.RELATIVE_TOLERANCE[column], (name, column)
                judged += 1
            if cell.get("agreement") is not None:
                assert cell["agreement"] >= matrix.MIN_AGREEMENT \
                    or cell["rel"] <= matrix.INT8_RELATIVE_TOLERANCE, (name, column)
    assert judged > 0


def test_render_marks_missing_rows_and_failures():
    cells = {c: {"ok": False, "reason": "onnx2tf could not convert node X | Y"}
             for c in matrix.COLUMNS}
    cells["onnx"] = {"ok": True, "precision": "float32", "max_abs": 2e-6, "rel": 5e-7,
                     "agreement": 1.0, "reason": None}
    text = matrix.render({"rows": {"a": {"cells": cells}}, "versions": {}}, ["a", "b"])
    row_a = next(line for line in text.splitlines() if line.startswith("| a |"))
    assert "✓ 2.0e-06 (rel 5.0e-07); top-1 100%" in row_a
    assert "✗ onnx2tf could not convert node X / Y" in row_a  # a bar would split the cell
    assert "| b | not generated |" in text


CHEAP_ROW_SECONDS = 12.0  # cached export time of a row the default suite regenerates
CHEAP_ONNX_SECONDS = 10.0  # ... and of an ONNX cell


def _rows_by_cost(column=None, limit=CHEAP_ROW_SECONDS):
    """Every row (registered models and parts) whose cached export time (of ``column``, or
    of the whole row) is at most ``limit``; the others, and rows not generated, run as slow."""
    rows = json.loads(CACHE.read_text())["rows"] if CACHE.is_file() else {}
    params = []
    for name in matrix.row_names():
        cells = rows[name]["cells"] if name in rows else {}
        seconds = sum(c.get("seconds") or 0 for k, c in cells.items()
                      if column is None or k == column) if cells else None
        cheap = seconds is not None and seconds <= limit
        params.append(pytest.param(name, marks=() if cheap else pytest.mark.slow))
    return params


@pytest.mark.parametrize("name", _rows_by_cost("onnx", CHEAP_ONNX_SECONDS))
def test_onnx_cell_regenerates(cache, name, tmp_path):
    """Every row's ONNX cell (the cheap ones in the default suite): the same verdict, and
    a difference from MXNet of the cached size."""
    pytest.importorskip("onnxruntime")
    if name not in cache["rows"]:
        pytest.skip(f"{name} is not in the cache")
    row = matrix.run_row(name, tmp_path, columns=("onnx",))
    got, want = row["cells"]["onnx"], cache["rows"][name]["cells"]["onnx"]
    assert got["ok"] == want["ok"], (got, want)
    if want.get("max_abs") is not None:
        assert got["max_abs"] <= max(10 * want["max_abs"], 1e-6)


@pytest.mark.parametrize("name", _rows_by_cost())
def test_rows_regenerate(cache, name, tmp_path):
    pytest.importorskip("onnx2tf")
    if name not in cache["rows"]:
        pytest.skip(f"{name} is not in the cache")
    row = matrix.run_row(name, tmp_path)
    for column, want in cache["rows"][name]["cells"].items():
        got = row["cells"][column]
        assert got["ok"] == want["ok"], (column, got, want)
        if want.get("max_abs") is not None:
            assert got["max_abs"] <= max(10 * want["max_abs"], 1e-6), column


def test_regenerating_some_columns_keeps_the_others(tmp_path):
    """--columns: one cell of a cached row is exported again, the row's other cells stay."""
    pytest.importorskip("onnxruntime")
    kept = {"ok": False, "reason": "kept from the cache", "seconds": 0.0}
    cache = {"rows": {"linreg": {"cells": {c: dict(kept) for c in matrix.COLUMNS}}},
             "versions": {}}
    json_path = tmp_path / "m.json"
    matrix.save_cache(json_path, cache)
    got = matrix.generate(["linreg"], json_path, log=lambda _: None, columns=("onnx",))
    cells = got["rows"]["linreg"]["cells"]
    assert cells["onnx"]["ok"] and cells["onnx"]["rel"] <= matrix.RELATIVE_TOLERANCE["onnx"]
    assert all(cells[c] == kept for c in matrix.COLUMNS if c != "onnx")
    assert matrix.load_cache(json_path)["rows"]["linreg"]["cells"] == cells


@pytest.mark.parametrize("agreement, rel, ok", [
    (1.0, 0.2, True),     # every decision kept, large logit error: int8 judged by decisions
    (0.875, 0.02, True),  # near-ties flipped by small logit changes
    (0.625, 0.2, False),  # decisions lost and logits far off
])
def test_int8_verdict_takes_decisions_or_a_small_logit_change(agreement, rel, ok):
    cell = {"agreement": agreement, "rel": rel, "max_abs": rel}
    got, reason = matrix._judge("tflite_int8", cell, spread=1.0)
    assert got is ok and (reason is None) is ok
    assert matrix._judge("tflite_int8", cell, spread=0.0)[0] is False  # flat reference


def test_rejudge_applies_the_tolerances_to_stored_numbers():
    cell = {"ok": True, "reason": None, "rel": 2e-3, "agreement": 1.0, "max_abs": 1e-3}
    error = {"ok": False, "reason": "onnx2tf could not convert"}
    cache = {"rows": {"m": {"reference_spread": 1.0,
                            "cells": {"tflite_float32": dict(cell), "onnx": dict(error)}}}}
    cells = matrix.rejudge(cache)["rows"]["m"]["cells"]
    assert cells["tflite_float32"]["ok"] is False
    assert cells["tflite_float32"]["reason"] == "relative error 0.002 > 0.0001"
    assert cells["onnx"] == error


def test_input_rounding_measures_the_float32_network_on_int8_rounded_inputs():
    """Rounding LeNet-5's inputs to 256 levels moves its logits a little and keeps its
    decisions; inputs already on the grid change nothing; other tasks get no figure."""
    net, config, _, calib = matrix.prepare_row("lenet5")
    inputs = matrix.sample_inputs(config, matrix.QUANT_SAMPLES, seed=2)
    reference = matrix._outputs(net, inputs)
    got = matrix.input_rounding(net, config, calib, inputs, reference)
    assert 0 < got["rel"] < 0.02 and got["agreement"] == 1.0
    low, high = float(calib[0].min()), float(calib[0].max())
    step = (high - low) / 255
    on_grid = [(np.round((np.clip(inputs[0], low, high) - low) / step) * step + low)
               .astype(np.float32)]
    exact = matrix.input_rounding(net, config, calib, on_grid, matrix._outputs(net, on_grid))
    assert exact["rel"] < 1e-6 and exact["agreement"] == 1.0
    vae, vae_config, _, vae_calib = matrix.prepare_row("vae_mlp.decoder")
    vae_inputs = matrix.sample_inputs(vae_config, 4, seed=2)
    assert matrix.input_rounding(vae, vae_config, vae_calib, vae_inputs,
                                 matrix._outputs(vae, vae_inputs)) is None


def test_a_failed_int8_cell_shows_the_input_rounding_beside_it():
    failed = {"ok": False, "precision": "int8", "max_abs": 0.9, "rel": 0.1, "agreement": 0.6,
              "reason": "top-1 agreement 60% < 90%"}
    passed = dict(failed, ok=True, reason=None)
    rounding = {"rel": 0.04, "agreement": 0.84}
    cells = {c: dict(passed) for c in matrix.COLUMNS}
    cells["tflite_int8"] = failed
    text = matrix.render({"rows": {"a": {"cells": cells, "int8_input_rounding": rounding}},
                          "versions": {}}, ["a"])
    row = next(line for line in text.splitlines() if line.startswith("| a |"))
    note = "float32 with the input rounded to int8 alone: rel 0.04, top-1 84%"
    assert row.count(note) == 1  # the failed int8 cell only
    assert note in row.split("|")[2 + matrix.COLUMNS.index("tflite_int8")]


def test_regenerating_columns_keeps_the_rows_own_measurements(tmp_path):
    json_path = tmp_path / "m.json"
    kept = {"ok": True, "reason": None, "seconds": 0.0}
    matrix.save_cache(json_path, {"rows": {"linreg": {
        "cells": {c: dict(kept) for c in matrix.COLUMNS},
        "int8_input_rounding": {"rel": 0.5, "agreement": 0.5}}}, "versions": {}})
    matrix._store(matrix.load_cache(json_path), json_path, "linreg",
                  {"cells": {"onnx": dict(kept, ok=False, reason="x")}}, log=lambda _: None)
    row = matrix.load_cache(json_path)["rows"]["linreg"]
    assert row["int8_input_rounding"] == {"rel": 0.5, "agreement": 0.5}
    assert row["cells"]["onnx"]["reason"] == "x" and row["cells"]["tflite_int8"] == kept


def _blocks(block):
    yield block
    for child in block._children.values():
        yield from _blocks(child)


def test_residual_branch_ends_are_the_last_layer_of_each_branch():
    """MobileNet v2: the projecting BatchNorm of every block with a shortcut, and nothing
    else (not the BatchNorm ending a block without one, which feeds the next block's
    convolution and its addition). ResNet v2: the last convolution of every block, and
    its projecting shortcut where it has one. No BatchNorm (VGG, the TCN), none."""
    from mxnet.gluon import nn

    from gluon_dl.models import get_model
    from gluon_dl.models.mobilenet import InvertedResidual
    from gluon_dl.models.resnet import BasicBlockV2
    net = get_model("mobilenetv2_0.25")
    want = [[b for b in _blocks(block.out) if isinstance(b, nn.BatchNorm)][-1].gamma.name
            for block in _blocks(net) if isinstance(block, InvertedResidual)
            and block.use_shortcut]
    assert len(want) == 10
    assert sorted(p.name for p in matrix.residual_branch_ends(net)) == sorted(want)
    v2 = get_model("cifar_resnet20_v2")
    blocks = [b for b in _blocks(v2) if isinstance(b, BasicBlockV2)]
    want = [b.conv2.weight.name for b in blocks] + [b.downsample.weight.name for b in blocks
                                                    if b.downsample is not None]
    assert len(blocks) == 9 and len(want) == 11
    assert sorted(p.name for p in matrix.residual_branch_ends(v2)) == sorted(want)
    for name in ("lenet5", "vgg11", "tcn"):
        assert matrix.residual_branch_ends(get_model(name)) == []


def test_matrix_networks_start_residual_branches_small_and_keep_decisions_at_int8_input():
    """prepare_row scales exactly those gammas; the resulting MobileNet v2 keeps its
    decisions when its input alone is rounded to int8's grid (with every branch at full
    scale it flipped 16% of them: the chaos of a random deep residual network)."""
    net, config, _, calib = matrix.prepare_row("mobilenetv2_0.25")
    scaled = {p.name for p in matrix.residual_branch_ends(net)}
    gammas = {name: p.data().asnumpy() for name, p in net.collect_params().items()
              if name.endswith("gamma")}
    assert scaled and all(np.allclose(gammas[n], matrix.RESIDUAL_BRANCH_SCALE) for n in scaled)
    assert all(np.allclose(g, 1.0) for n, g in gammas.items() if n not in scaled)
    inputs = matrix.sample_inputs(config, matrix.QUANT_SAMPLES, seed=2)
    got = matrix.input_rounding(net, config, calib, inputs, matrix._outputs(net, inputs))
    assert got["agreement"] == 1.0 and got["rel"] < 0.02


def test_matrix_resnet_v2_branches_end_at_half_scale_and_keep_the_logits_in_range():
    """ResNet v2 branches end in a convolution: prepare_row starts each at half its He
    initialization, and the pre-activation
    stream stops doubling its variance with every block (at full scale the logits of
    cifar_resnet56_v2 spanned 9.3e3; ResNet-152 v2's 1.6e8)."""
    net, config, inputs, _ = matrix.prepare_row("cifar_resnet56_v2")
    ends = matrix.residual_branch_ends(net)
    assert len(ends) == 29 and all(p.name.endswith("weight") for p in ends)
    logits = matrix._outputs(net, inputs)[0]
    assert 1 < np.ptp(logits) < 1000, np.ptp(logits)


def _statistics_from_data(net, images, batch_size=16):
    """Every BatchNorm's running statistics set to the mean of the batches' statistics.

    MXNet records them in the backward pass of a training-mode batch (a forward pass in
    training mode alone leaves them as they were); the k-th batch's momentum k/(k+1)
    averages the batches."""
    import mxnet as mx
    from mxnet.gluon import nn
    net.hybridize(active=False)  # each call reads the layer's momentum
    norms = [b for b in _blocks(net) if isinstance(b, nn.BatchNorm)]
    for k, i in enumerate(range(0, len(images), batch_size)):
        for norm in norms:
            norm._kwargs["momentum"] = k / (k + 1)
        x = mx.nd.array(images[i:i + batch_size])
        x.attach_grad()
        with mx.autograd.record(train_mode=True):
            out = net(x)
        out.backward()
    return norms


@pytest.mark.parametrize("name", _rows_by_cost())
def test_batchnorm_rows_keep_the_init_statistics_and_their_decisions_at_int8_input(name):
    """The matrix's networks with BatchNorm: running statistics at the init's 0 and 1,
    logits with a spread, and (classifiers) decisions that survive rounding the input
    alone to int8's grid, so an int8 cell measures the conversion."""
    net, config, inputs, calib = matrix.prepare_row(name)
    stats = {n: p.data().asnumpy() for n, p in net.collect_params().items()
             if n.endswith(("running_mean", "running_var"))}
    if not stats:
        pytest.skip(f"{name} has no BatchNorm")
    assert all(np.all(a == (0 if n.endswith("mean") else 1)) for n, a in stats.items())
    assert matrix._spread(matrix._outputs(net, inputs)) > 100 * matrix.DEGENERATE_SPREAD
    quant = matrix.sample_inputs(config, matrix.QUANT_SAMPLES, seed=2)
    got = matrix.input_rounding(net, config, calib, quant, matrix._outputs(net, quant))
    if got is not None:
        assert got["agreement"] >= 0.95 and got["rel"] <= 0.02, got


def test_batchnorm_statistics_from_data_make_a_random_mobilenet_chaotic():
    """Why the matrix leaves them at init: the same random MobileNet with statistics
    recorded from its calibration inputs flips a quarter or more of its decisions when
    only its input is rounded to int8's grid (none with the init's statistics)."""
    net, config, _, calib = matrix.prepare_row("mobilenet0.25")
    quant = matrix.sample_inputs(config, matrix.QUANT_SAMPLES, seed=2)
    before = matrix.input_rounding(net, config, calib, quant, matrix._outputs(net, quant))
    norms = _statistics_from_data(net, calib[0])
    seen = []  # the first BatchNorm's input: its running mean is that input's channel mean
    hook = norms[0].register_forward_hook(lambda block, x, y: seen.append(x[0].asnumpy()))
    matrix._outputs(net, calib)
    hook.detach()
    np.testing.assert_allclose(norms[0].running_mean.data().asnumpy(),
                               seen[0].mean(axis=(0, 2, 3)), rtol=1e-3, atol=1e-5)
    after = matrix.input_rounding(net, config, calib, quant, matrix._outputs(net, quant))
    assert before["agreement"] == 1.0 and before["rel"] < 0.01, before
    assert after["agreement"] <= 0.75 and after["rel"] > 0.1, after
