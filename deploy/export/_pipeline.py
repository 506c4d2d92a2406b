"""The one export pipeline: trace -> convert -> metadata -> verify -> publish.

Every format (:mod:`deploy.export._registry`) provides only its conversion
step; this module does the rest once:

1. resolve the :class:`~gluon_dl.config.ModelConfig` and trace the block on
   ``config.inputs`` (or take an earlier artifact and its metadata);
2. stage: run the format's converter in a temporary folder beside the target;
3. attach metadata: ``config.to_dict()`` plus an ``artifact`` section with
   the SHA-256 of every file (:mod:`deploy.metadata`);
4. verify: run each staged artifact in its runtime (:func:`deploy.runtime.load`)
   and compare every output with the MXNet model;
5. publish every file atomically, so a failure leaves earlier artifacts alone.
"""
import dataclasses
import os
from pathlib import Path
from typing import Optional

import numpy as np

from gluon_dl.errors import ArgumentError, ConversionError, IntegrityError, ModelFileError

from ..metadata import build_metadata, config_from, read_metadata, write_sidecar
from . import _common
from ._registry import ExportFormat, get_format
from ._trace import Trace, trace
from ._verify import reference_outputs
from ._verify import verify as _verify

VERIFY_SAMPLES = 8  # float artifacts: a few samples decide parity
QUANT_VERIFY_SAMPLES = 64  # quantized ones are judged by top-1 agreement
QUANTIZED = ("int8", "dynamic_range")


@dataclasses.dataclass
class Job:
    """What a format's converter gets.

    Attributes
    ----------
    fmt : ExportFormat
    config : ModelConfig
    net : mxnet.gluon.HybridBlock or None
        The block to convert (None when converting ``source``).
    trace : Trace or None
        The block's graph, traced on ``config.inputs``.
    source : Path or None
        An earlier artifact to convert from (a suffix in ``fmt.accepts_files``).
    stage : Path
        The staging folder; converters write here only.
    targets : dict
        precision -> final path; write each artifact at :meth:`staged`.
    calib : list of numpy.ndarray or None
        Normalized calibration inputs, one array per input.
    options : dict
        Format-specific keyword arguments.
    """

    fmt: ExportFormat
    config: object
    net: object
    trace: Optional[Trace]
    source: Optional[Path]
    stage: Path
    targets: dict
    calib: Optional[list]
    options: dict

    def staged(self, precision):
        """Where the artifact of ``precision`` is staged (its final name, in the stage)."""
        return self.stage / self.targets[precision].name


def run(fmt, model, targets, *, config=None, calib_data=None, verify=True, verify_inputs=None,
        reference=None, **options):
    """Export ``model`` in format ``fmt`` to ``targets`` through the whole pipeline.

    Parameters
    ----------
    fmt : str or ExportFormat
        A registered format (:func:`deploy.export.list_formats`).
    model : mxnet.gluon.HybridBlock or str or Path
        A Gluon block, or an artifact the format converts from.
    targets : dict
        precision -> output path.
    config : ModelConfig, optional
        Defaults to ``model.config`` (blocks from ``get_model``) or the
        metadata of the artifact ``model``.
    calib_data : numpy.ndarray, list or dict, optional
        Normalized representative inputs (one array per input); required for
        the format's calibrated precisions (int8).
    verify : bool
        Run every artifact in its runtime and compare with the reference.
    verify_inputs : numpy.ndarray, list or dict, optional
        Normalized inputs for the check (default: ``calib_data[:64]`` for
        quantized artifacts, synthetic samples otherwise).
    reference : Gluon block, Predictor or outputs, optional
        What to compare with (default: the block, or the artifact ``model``
        run in its runtime).
    **options
        Passed to the format's converter.

    Returns
    -------
    dict
        precision -> Path of the published artifact.

    Raises
    ------
    ArgumentError
        For an unknown precision, missing calibration data or a bad config.
    ConversionError
        When the block cannot be traced or converted; names layer and operator.
    VerificationError
        When an artifact's outputs differ from the reference's.
    """
    fmt = fmt if isinstance(fmt, ExportFormat) else get_format(fmt)
    targets = {p: Path(t) for p, t in targets.items()}
    fmt.check_precisions(tuple(targets))
    source = _source(model, fmt)
    config = _config(model, config, source)
    missing = [p for p in targets if p in fmt.calibrated]
    if missing and calib_data is None:
        raise calibration_needed(fmt.name, missing, config)
    calib = None if calib_data is None else _common.check_calib(calib_data, config)
    traced = None if source is not None else trace(model, config)
    first = next(iter(targets.values()))
    with _common.staging_dir(first) as stage:
        job = Job(fmt, config, None if source else model, traced, source, stage, targets, calib,
                  options)
        converted = fmt.convert(job)
        staged = {p: _finish(converted[p], fmt, p, config) for p in targets}
        if verify:
            if reference is None:
                reference = model if source is None else _load_reference(source)
            _verify_all(staged, fmt, reference, config, calib, verify_inputs)
        for p, target in targets.items():
            _publish(converted[p], staged[p], target)
    return dict(targets)


def calibration_needed(fmt_name, precisions, config):
    """The ArgumentError for a calibrated precision asked for without calibration data."""
    return ArgumentError(
        f"{fmt_name} {'/'.join(precisions)} export needs calib_data: a few hundred normalized "
        f"inputs of {config.input_names} in the model's layout {config.layout} (e.g. "
        f"training samples shaped (N, {', '.join(map(str, config.input_shape))}))")


def export_all(net, out_dir, formats=None, *, stem=None, precisions=None, config=None,
               calib_data=None, verify=True, log=None, **options):
    """Export ``net`` in several formats into ``out_dir``; every artifact verified.

    Parameters
    ----------
    net : mxnet.gluon.HybridBlock
    out_dir : str or Path
    formats : sequence of str, optional
        Default: every registered format.
    stem : str, optional
        File name stem (default: ``config.name``).
    precisions : sequence of str, optional
        Wanted precisions; each format writes those it supports (default: its
        first).  ``"int8"`` needs ``calib_data``.
    config, calib_data, verify
        As for :func:`run`.
    **options
        Per format, a dict of its options, e.g. ``tflite={"batch_size": None}``.
    log : callable, optional
        Called with one line per format written.

    Returns
    -------
    list of (str, str, Path)
        ``(format, precision, path)`` per artifact, in registry order.
    """
    from ._registry import list_formats
    config = _common.resolve_config(net, config)
    stem = stem or config.name
    written = []
    for name in (list_formats() if formats is None else formats):
        fmt = get_format(name)
        wanted = fmt.precisions[:1] if precisions is None else \
            tuple(p for p in precisions if p in fmt.precisions)
        if not wanted:
            continue
        paths = run(fmt, net, fmt.targets(out_dir, stem, wanted), config=config,
                    calib_data=calib_data, verify=verify, **options.get(name, {}))
        written.extend((name, p, path) for p, path in paths.items())
        if log is not None:
            log(f"exported {name} {', '.join(paths)}: "
                f"{', '.join(Path(p).name for p in paths.values())}")
    return written


def artifact_files(path):
    """The files an artifact consists of: itself and the companions its metadata lists."""
    path = Path(path)
    files = [path]
    meta = read_metadata(path)
    files += [path.with_name(name) for name in meta["artifact"]["files"]]
    return files


def model_config(model, config, fmt):
    """The config an export of ``model`` (block or artifact file) in ``fmt`` uses."""
    fmt = fmt if isinstance(fmt, ExportFormat) else get_format(fmt)
    return _config(model, config, _source(model, fmt))


def _source(model, fmt):
    if not isinstance(model, (str, os.PathLike)):
        return None
    path = Path(model)
    if not any(path.name.endswith(s) for s in fmt.accepts_files):
        what = (f"files ending in {', '.join(fmt.accepts_files)}" if fmt.accepts_files
                else "no files")
        raise ArgumentError(f"the {fmt.name} format converts Gluon blocks and {what}; got "
                            f"{path}")
    return path


def _config(model, config, source):
    if config is not None:
        return _common.resolve_config(None, config)
    if source is not None:
        return config_from(read_metadata(source), source=f"metadata of {source}")
    return _common.resolve_config(model, None)


def _load_reference(source):
    from ..runtime import load
    return load(source)


def _finish(converted, fmt, precision, config):
    """Write the metadata of one staged artifact (into the file and its sidecar)."""
    meta = build_metadata(config, fmt=fmt.artifact_format, precision=precision,
                          **converted.fields)
    if converted.embed is not None:
        converted.embed(converted.path, meta)
    write_sidecar(converted.path, meta, companions=converted.companions)
    return converted.path


def _verify_all(staged, fmt, reference, config, calib, verify_inputs):
    """Verify every staged artifact; reference outputs are computed once per input set."""
    sets = {}
    for precision, path in staged.items():
        if verify_inputs is not None:
            key, inputs = "given", _common.as_input_list(verify_inputs, config, "verify_inputs")
        elif precision in fmt.calibrated or precision in QUANTIZED:
            key = "quant"
            inputs = ([c[:QUANT_VERIFY_SAMPLES] for c in calib] if calib is not None
                      else _common.sample_inputs(config, n=QUANT_VERIFY_SAMPLES))
        else:
            key, inputs = "float", _common.sample_inputs(config, n=VERIFY_SAMPLES)
        if key not in sets:
            inputs = [np.asarray(x) for x in inputs]
            sets[key] = (inputs, reference_outputs(reference, inputs))
        inputs, expected = sets[key]
        try:
            _verify(path, expected, inputs)
        except ModelFileError as exc:
            if isinstance(exc, IntegrityError):
                raise
            # The runtime blames the file; here the converter wrote a graph it cannot load.
            reason = str(exc).split(": the file is truncated")[0]
            raise ConversionError(f"the {fmt.name} {precision} model converted from "
                                  f"'{config.name}' does not load in its runtime: {reason}; "
                                  f"rewrite the layer of the node it names") from exc


def _publish(converted, staged, target):
    for companion in converted.companions:
        _common.publish(companion, target.with_name(Path(companion).name), with_sidecar=False)
    _common.publish(staged, target)
