"""Filter the informational lines native interpreters print on stderr.

TFLite interpreters write "INFO: Created TensorFlow Lite XNNPACK delegate for
CPU." straight to file descriptor 2 on every load, which no environment
variable silences; it would turn a one-line error into two.  Other lines
(warnings, errors) are passed through unchanged.
"""
import contextlib
import os
import re
import sys
import tempfile

NOISE_PREFIXES = ("INFO: ",)


@contextlib.contextmanager
def native_info_filtered(drop=None):
    """Capture fd 2 for the block, then re-emit every line but the noise.

    Parameters
    ----------
    drop : str, optional
        A regular expression; matching lines are dropped too (default: only
        lines starting with ``INFO: ``).
    """
    pattern = re.compile(drop) if drop else None
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines(True)
                    if not line.startswith(NOISE_PREFIXES)
                    and not (pattern and pattern.match(line))]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
