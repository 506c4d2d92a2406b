"""Mixed precision for :func:`gluon_dl.training.fit`: one argument, ``amp=``.

* ``"float16"`` on GPUs: MXNet AMP casts the compute-heavy operators to
  float16, keeps numerically sensitive ones (softmax, norms, losses) in
  float32, trains float32 master weights (``multi_precision``) and scales
  the loss dynamically so small gradients don't underflow.  The optimizer
  must run in the trainer (``update_on_kvstore=False``), as AMP requires.
* ``"bfloat16"`` on CPUs: the same operator lists with bfloat16, no loss
  scaling (bfloat16 has float32's exponent range).  oneDNN runs bfloat16
  kernels only on CPUs with AVX-512 (natively with AVX512_BF16/AMX).

MXNet's AMP patches its operator namespaces for the whole process
(``mxnet.contrib.amp.init``): once on, every network built or hybridized
afterwards in the process runs in mixed precision, and another target
dtype cannot be chosen later.  Run fp32 baselines in another process.
"""
from pathlib import Path

from ..errors import ArgumentError

AMP_DTYPES = ("float16", "bfloat16")
_BF16_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512dq")


def cpu_flags():
    """The CPU feature flags Linux reports (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def bf16_supported(flags=None):
    """Whether oneDNN can run bfloat16 kernels on this CPU (AVX-512 core or newer)."""
    flags = cpu_flags() if flags is None else flags
    return all(f in flags for f in _BF16_FLAGS) or "avx512_bf16" in flags


def check_amp(amp, ctxs, update_on_kvstore=None, flags=None):
    """Raise a clear error for a mixed-precision setting that can't work."""
    if amp is None:
        return
    if amp not in AMP_DTYPES:
        raise ArgumentError(f"amp={amp!r} is not supported; use one of {AMP_DTYPES} or None")
    kinds = {c.device_type for c in ctxs}
    if amp == "float16" and kinds != {"gpu"}:
        raise ArgumentError(f"amp='float16' needs GPU contexts, got {ctxs}: MXNet has no fast "
                            f"float16 kernels on CPU; use amp='bfloat16' on CPUs with AVX-512")
    if amp == "float16" and update_on_kvstore:
        raise ArgumentError("amp='float16' needs update_on_kvstore=False: AMP's loss scaler "
                            "unscales gradients in the trainer, not in the KVStore")
    if amp == "bfloat16" and kinds != {"cpu"}:
        raise ArgumentError(f"amp='bfloat16' runs on CPU contexts only in MXNet 1.9, got {ctxs}; "
                            f"use amp='float16' on GPUs")
    if amp == "bfloat16" and not bf16_supported(flags):
        raise ArgumentError("amp='bfloat16' needs a CPU with AVX-512 (avx512f/bw/vl/dq, or "
                            "avx512_bf16): oneDNN has no bfloat16 kernels for this CPU, which "
                            "reports only " + (", ".join(sorted(f for f in (flags or cpu_flags())
                                                                if f.startswith("avx"))) or
                                               "no AVX flags") + "; train in float32 here")


def enable_amp(amp, net):
    """Turn MXNet AMP on for the process and retrace ``net`` so it takes effect."""
    from mxnet.contrib import amp as mx_amp

    current = getattr(mx_amp, "_gluon_dl_dtype", None)
    if current is not None and current != amp:
        raise ArgumentError(f"AMP is already on with {current} in this process; MXNet cannot "
                            f"switch it to {amp}: start a new process")
    if current is None:
        mx_amp.init(target_dtype=amp)
        mx_amp._gluon_dl_dtype = amp
    if getattr(net, "_active", False):
        net.hybridize(static_alloc=True, static_shape=True)  # drops the fp32 graph


def init_trainer(amp, trainer):
    """Attach dynamic loss scaling to ``trainer`` for float16."""
    if amp == "float16":
        from mxnet.contrib import amp as mx_amp
        mx_amp.init_trainer(trainer)


def backward(amp, trainer, losses):
    """``autograd.backward`` with the loss scaled when float16 needs it."""
    from mxnet import autograd

    if amp == "float16":
        from mxnet.contrib import amp as mx_amp
        with mx_amp.scale_loss(losses, trainer) as scaled:
            autograd.backward(scaled)
    else:
        autograd.backward(losses)
