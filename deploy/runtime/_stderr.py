"""Filter the informational lines native interpreters print on stderr.

TFLite interpreters write "INFO: Created TensorFlow Lite XNNPACK delegate for
CPU." straight to file descriptor 2 on every load, which no environment
variable silences; it would turn a one-line error into two.  Other lines
(warnings, errors) are passed through unchanged.
"""
import contextlib
import os
import sys
import tempfile

NOISE_PREFIXES = ("INFO: ",)


@contextlib.contextmanager
def native_info_filtered():
    """Capture fd 2 for the block, then re-emit every line but the INFO ones."""
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
                    if not line.startswith(NOISE_PREFIXES)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
