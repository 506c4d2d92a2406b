"""JSON from files a user can hand us, parsed without the decoder's deep-nesting crash.

Python's C JSON decoder recurses once per ``[``/``{`` level.  With the
recursion limit that some libraries raise at import, a forged ``"[[[[..."``
overflows the C stack and kills the process (a segmentation fault, not an
exception).  Every file of gluon-dl's own (metadata, checkpoints, manifests)
nests a few levels deep, so anything deeper is refused before parsing.
"""
import itertools
import json
import re

MAX_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def nesting_depth(data):
    """The deepest ``[``/``{`` nesting of JSON text, strings left out, without recursing."""
    data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    steps = (1 if byte in b"[{" else -1 for byte in brackets)
    return max(itertools.accumulate(steps), default=0)


def loads(data, max_depth=MAX_DEPTH, **kwargs):
    """``json.loads`` that refuses text nesting deeper than ``max_depth`` levels.

    Raises
    ------
    ValueError
        For text nested too deeply, or not JSON (``json.JSONDecodeError``);
        callers turn it into their own error naming the file.
    """
    if nesting_depth(data) > max_depth:
        raise ValueError(f"it nests deeper than {max_depth} levels, which no file "
                         f"gluon-dl writes does")
    return json.loads(data, **kwargs)
