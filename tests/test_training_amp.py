"""Mixed precision: what is refused, and that bfloat16 really runs bfloat16 kernels."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

mx = pytest.importorskip("mxnet")
from gluon_dl.errors import ArgumentError  # noqa: E402
from gluon_dl.training import _channel_pad, fit  # noqa: E402
from gluon_dl.training.amp import bf16_supported, check_amp  # noqa: E402

AVX512 = {"avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq"}


def test_bf16_support_follows_cpu_flags():
    assert bf16_supported(AVX512) and bf16_supported({"avx512_bf16"})
    assert not bf16_supported({"sse4_2", "avx", "avx2", "fma"})


@pytest.mark.parametrize("amp, ctxs, kw, match", [
    ("float16", [mx.cpu()], {}, "needs GPU contexts"),
    ("float16", [mx.gpu(0)], {"update_on_kvstore": True}, "update_on_kvstore=False"),
    ("bfloat16", [mx.gpu(0)], {}, "CPU contexts only"),
    ("bfloat16", [mx.cpu()], {"flags": {"avx", "avx2"}}, "needs a CPU with AVX-512.*avx, avx2"),
    ("int4", [mx.cpu()], {}, "not supported"),
])
def test_impossible_combinations_are_refused(amp, ctxs, kw, match):
    with pytest.raises(ArgumentError, match=match):
        check_amp(amp, ctxs, **kw)


def test_fit_refuses_before_touching_the_network():
    from gluon_dl.models import get_model

    with pytest.raises(ArgumentError, match="needs GPU contexts"):
        fit(get_model("lenet5"), [], 1, amp="float16", progress=False)


# The losses go to a file (argv[1]): oneDNN's verbose lines share stdout with
# Python's and can split a line printed there.
BF16_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, mxnet as mx
    from gluon_dl.data import ArrayLoader
    from gluon_dl.models import get_model
    from gluon_dl.training import fit
    mx.random.seed(0)
    rng = np.random.RandomState(0)
    X = rng.randn(64, 1, 28, 28).astype("float32")
    y = (X.mean(axis=(1, 2, 3)) > 0).astype("float32")
    pad = sys.argv[2] == "padded"  # fit pads by default; "plain" turns it off
    hist = fit(get_model("lenet5", num_classes=2), ArrayLoader(X, y, 16), 4, lr=1e-3,
               amp="bfloat16", progress=False, channel_pad=pad)
    with open(sys.argv[1], "w") as f:
        json.dump(hist.history["loss"], f)
""")


@pytest.mark.skipif(not bf16_supported(), reason="this CPU has no AVX-512: oneDNN has no "
                    "bfloat16 kernels here (the refusal is tested above)")
@pytest.mark.parametrize("graph", ["plain", "padded"])
def test_bfloat16_training_runs_bf16_kernels(tmp_path, graph):
    """bfloat16 convolutions run, also through the channel-padded training graph
    (whose rewrite must keep AMP's casts), and the loss goes down."""
    script = tmp_path / "bf16.py"
    script.write_text(BF16_SCRIPT)
    losses_file = tmp_path / "losses.json"
    proc = subprocess.run([sys.executable, str(script), str(losses_file), graph],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, DNNL_VERBOSE="1", PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    convs = [l for l in proc.stdout.splitlines() if ",convolution," in l and "exec" in l]
    assert any("src_bf16" in l for l in convs), "no bfloat16 convolution ran"
    # LeNet's 6 filters run as a full block of the CPU (8, or 16 with AVX-512)
    padded = any(f"ic1oc{_channel_pad.block()}" in l for l in convs)
    assert padded == (graph == "padded")
    losses = json.loads(losses_file.read_text())
    assert losses[-1] < losses[0]
