"""The check every exporter ends with: run the artifact, compare with MXNet."""
import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np

from gluon_dl.errors import VerificationError

# Default tolerances by the artifact's precision: |out - ref| <= atol + rtol * max|ref|
# for every element of every output (rtol is relative to the output's largest
# magnitude, so a logit near zero beside logits in the thousands is held to the
# output's scale, not to its own), and/or top-1 agreement >= min_agreement.
# Quantized models are judged by their decisions, not their logits.
TOLERANCES = {
    "float32": {"atol": 1e-4, "rtol": 1e-4, "min_agreement": None},
    "float16": {"atol": 1e-2, "rtol": 1e-2, "min_agreement": None},
    "dynamic_range": {"atol": None, "rtol": None, "min_agreement": 0.9},
    "int8": {"atol": None, "rtol": None, "min_agreement": 0.9},
}


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """How an artifact's outputs compare with the reference outputs."""

    artifact: str
    backend: str
    precision: str
    num_samples: int
    max_abs_error: float
    mean_abs_error: float
    top1_agreement: Optional[float]
    atol: Optional[float]
    rtol: Optional[float]
    min_agreement: Optional[float]

    def __str__(self):
        agreement = "n/a" if self.top1_agreement is None else f"{self.top1_agreement:.1%}"
        return (f"{Path(self.artifact).name} [{self.backend}, {self.precision}]: max abs error "
                f"{self.max_abs_error:.3g}, mean abs error {self.mean_abs_error:.3g}, top-1 "
                f"agreement {agreement} on {self.num_samples} samples")


def verify(artifact_path, reference, inputs, *, atol=None, rtol=None, min_agreement=None,
           backend=None):
    """Run ``artifact_path`` through :func:`deploy.runtime.load` and compare every output.

    Parameters
    ----------
    artifact_path : str or Path
        An exported model with its metadata sidecar.
    reference : mxnet.gluon.Block, Predictor, numpy.ndarray or list of them
        The model the artifact came from, or its outputs on ``inputs`` (a
        list for several outputs, in the MXNet model's order).
    inputs : numpy.ndarray, list or dict
        Normalized inputs in the model's layout (what the network sees): one
        array, or one per input (a list in ``config.inputs`` order or a dict
        by name).
    atol, rtol, min_agreement : float, optional
        Tolerances: every output must satisfy ``|out - ref| <= atol + rtol *
        max|ref|`` (its largest reference magnitude) and, for a classifier,
        top-1 agreement must reach ``min_agreement``; each defaults to
        :data:`TOLERANCES` for the artifact's precision (None there: that
        check is skipped).
    backend : str, optional
        Runtime backend to use (default: the preferred installed one).

    Returns
    -------
    VerifyResult
        Errors over all outputs; top-1 agreement on the first output when it
        holds one score per class.

    Raises
    ------
    VerificationError
        When the artifact is outside the tolerances, or returns other outputs
        (count, order or shape) than the reference; names the artifact and numbers.
    """
    from ..runtime import load
    predictor = load(artifact_path, backend=backend)
    precision = predictor.precision
    defaults = TOLERANCES.get(precision, TOLERANCES["float32"])
    atol = defaults["atol"] if atol is None else atol
    rtol = defaults["rtol"] if rtol is None else rtol
    min_agreement = defaults["min_agreement"] if min_agreement is None else min_agreement
    if atol is not None and rtol is None:
        rtol = 0.0
    inputs = _as_list(inputs, predictor.config)
    outs = _listed(predictor.predict(*inputs, normalize=False))
    refs = [np.asarray(r).astype(np.float32) for r in _listed(reference_outputs(reference,
                                                                                inputs))]
    _check_structure(artifact_path, predictor, outs, refs)
    errs = [np.abs(o.astype(np.float32) - r) for o, r in zip(outs, refs)]
    agreement = None
    out, ref = outs[0], refs[0]
    if ref.ndim == 2 and ref.shape[1] > 1:
        agreement = float(np.mean(out.argmax(axis=1) == ref.argmax(axis=1)))
    max_err = max(float(e.max()) if e.size else 0.0 for e in errs)
    mean_err = float(np.mean([e.mean() for e in errs if e.size])) if any(e.size for e in errs) \
        else 0.0
    result = VerifyResult(str(artifact_path), predictor.backend, precision, len(inputs[0]),
                          max_err, mean_err, agreement, atol, rtol, min_agreement)
    _check(result, errs, refs)
    return result


def reference_outputs(reference, inputs, batch_size=64):
    """Outputs of ``reference`` (Gluon block, Predictor or arrays) on normalized ``inputs``.

    ``inputs`` is one array or a list with one array per model input; the
    result is one array for a single-output model, else a list in the
    model's output order.
    """
    if isinstance(reference, np.ndarray):
        return reference
    if isinstance(reference, (list, tuple)) and all(isinstance(r, np.ndarray)
                                                    for r in reference):
        return list(reference)
    arrays = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    arrays = [np.asarray(x) for x in arrays]
    if hasattr(reference, "predict"):  # a deploy.runtime Predictor
        return reference.predict(*arrays, normalize=False)
    import mxnet as mx
    parts = []
    for i in range(0, len(arrays[0]), batch_size):
        out = reference(*[mx.nd.array(x[i:i + batch_size], dtype=x.dtype) for x in arrays])
        parts.append([o.asnumpy() for o in (out if isinstance(out, (list, tuple)) else [out])])
    outs = [np.concatenate(group) for group in zip(*parts)]
    return outs[0] if len(outs) == 1 else outs


def _as_list(inputs, config):
    from ._common import as_input_list
    return as_input_list(inputs, config, "verification inputs")


def _listed(out):
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else [np.asarray(out)]


def _check_structure(path, predictor, outs, refs):
    if len(outs) != len(refs):
        raise VerificationError(f"{path} returns {len(outs)} outputs, the reference "
                                f"{len(refs)}; the export dropped outputs")
    shapes = [o.shape for o in outs]
    expected = [r.shape for r in refs]
    if shapes != expected:
        names = predictor.metadata["artifact"]["output_names"]
        raise VerificationError(f"{path} returns outputs of shapes {shapes}, the reference "
                                f"{expected} (outputs {names}); the export dropped or "
                                f"reordered outputs")


def _check(result, errs, refs):
    problems = []
    if result.atol is not None:
        for i, (err, ref) in enumerate(zip(errs, refs)):
            if not err.size:
                continue
            scale = float(np.abs(ref).max())
            bound = result.atol + result.rtol * scale
            if float(err.max()) > bound:
                which = f" in output {i}" if len(refs) > 1 else ""
                problems.append(f"max abs error {float(err.max()):.3g}{which} exceeds atol "
                                f"{result.atol:g} + rtol {result.rtol:g} * max |reference| "
                                f"{scale:.3g} = {bound:.3g}")
    if result.min_agreement is not None and result.top1_agreement is not None \
            and result.top1_agreement < result.min_agreement:
        problems.append(f"top-1 agreement {result.top1_agreement:.1%} is below "
                        f"{result.min_agreement:.0%}")
    if problems:
        raise VerificationError(
            f"{result.artifact} ({result.backend}, {result.precision}) disagrees with the MXNet "
            f"model: {'; '.join(problems)} ({result}). Look for a layer the converter handles "
            f"differently, give int8 more representative calibration data, or pass "
            f"verify=False to keep the artifact for inspection")
