"""The check every exporter ends with: run the artifact, compare with MXNet."""
import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np

from gluon_dl.errors import VerificationError

# Default tolerances by the artifact's precision: |out - ref| <= atol + rtol * |ref|
# elementwise, and/or top-1 agreement >= min_agreement.  Quantized models are
# judged by their decisions, not their logits.
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
    """Run ``artifact_path`` through :func:`deploy.runtime.load` and compare.

    Parameters
    ----------
    artifact_path : str or Path
        An exported model with its metadata sidecar.
    reference : mxnet.gluon.Block, Predictor or numpy.ndarray
        The model the artifact came from, or its outputs on ``inputs``.
    inputs : numpy.ndarray
        Normalized inputs in the model's layout (what the network sees).
    atol, rtol, min_agreement : float, optional
        Tolerances; each defaults to :data:`TOLERANCES` for the artifact's
        precision (None there: that check is skipped).
    backend : str, optional
        Runtime backend to use (default: the preferred installed one).

    Returns
    -------
    VerifyResult

    Raises
    ------
    VerificationError
        When the artifact is outside the tolerances; names the artifact and numbers.
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
    inputs = np.asarray(inputs)
    out = _first(predictor.predict(inputs, normalize=False))
    ref = _first(reference_outputs(reference, inputs)).astype(np.float32)
    if out.shape != ref.shape:
        raise VerificationError(f"{artifact_path} returns outputs of shape {out.shape}, the "
                                f"reference {ref.shape}; the export dropped or reordered outputs")
    err = np.abs(out.astype(np.float32) - ref)
    agreement = None
    if ref.ndim == 2 and ref.shape[1] > 1:
        agreement = float(np.mean(out.argmax(axis=1) == ref.argmax(axis=1)))
    result = VerifyResult(str(artifact_path), predictor.backend, precision, len(inputs),
                          float(err.max()), float(err.mean()), agreement, atol, rtol,
                          min_agreement)
    _check(result, err, ref)
    return result


def reference_outputs(reference, inputs, batch_size=64):
    """Outputs of ``reference`` (Gluon block, Predictor or array) on normalized ``inputs``."""
    if isinstance(reference, np.ndarray):
        return reference
    if hasattr(reference, "predict"):  # a deploy.runtime Predictor
        return reference.predict(inputs, normalize=False)
    import mxnet as mx
    parts = []
    for i in range(0, len(inputs), batch_size):
        out = reference(mx.nd.array(inputs[i:i + batch_size], dtype=inputs.dtype))
        parts.append((out[0] if isinstance(out, (list, tuple)) else out).asnumpy())
    return np.concatenate(parts)


def _first(out):
    return np.asarray(out[0] if isinstance(out, list) else out)


def _check(result, err, ref):
    problems = []
    if result.atol is not None and not np.all(err <= result.atol + result.rtol * np.abs(ref)):
        problems.append(f"max abs error {result.max_abs_error:.3g} exceeds atol {result.atol:g} "
                        f"+ rtol {result.rtol:g} * |reference|")
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
