"""Write a protobuf message (an ONNX model) without serializing it in one piece.

``SerializeToString`` of protobuf's upb runtime builds the whole encoding in
a growing buffer and then copies it into a bytes object: a 512 MiB ONNX model
took 2.4 GiB more memory while it was written.  :func:`write_message` writes
the same fields piece by piece: a part no larger than ``CHUNK`` is serialized
as one piece, a larger message field field by field, and a large bytes field
(a weight's ``raw_data``) straight from the message.  A message whose
encoding is over ``CHUNK`` has its fields written in a fixed order (its
scalar and string fields first, then its message fields and large bytes
fields by field number, repeated ones keeping their elements' order), so a
parser reads the same message; the bytes differ from ``SerializeToString``'s
only in that field order, and they are the same on every write of the same
message, so hashes of them hold.  A message with fields this protobuf does not
know (from a newer ONNX) is serialized whole, so that nothing is dropped.
"""

CHUNK = 16 << 20  # parts up to this size are serialized in one piece
_LENGTH_DELIMITED = 2


def write_message(message, write):
    """Call ``write(bytes)`` with the wire encoding of ``message``, piece by piece; its size.

    Sizes are computed here: upb's ``ByteSize`` serializes the message to
    count it (the same 4.5x the model's size in memory, and seconds).
    """
    plan = _plan(message)
    _write(plan, write)
    return plan[-1]


def save_message(message, path):
    """Write ``message`` to ``path`` with :func:`write_message` (the caller stages the file)."""
    with open(path, "wb") as f:
        return write_message(message, f.write)


def _plan(message):
    """How to write ``message``: ``("whole", message, size)`` or ``("fields", rest, parts, size)``.

    ``rest`` holds the message's scalars and small fields; ``parts`` lists
    ``(field number, plan)`` for every message field, in order, and
    ``(field number, ("bytes", message, name, size))`` for a large bytes field.
    """
    if _has_unknown_fields(message):
        return ("whole", message, len(message.SerializeToString()))
    rest, parts = type(message)(), []
    for field, value in message.ListFields():
        if field.type == field.TYPE_MESSAGE:
            items = value if field.label == field.LABEL_REPEATED else [value]
            parts.extend((field.number, _plan(item)) for item in items)
        elif field.label == field.LABEL_REPEATED:
            getattr(rest, field.name).extend(value)
        elif field.type == field.TYPE_BYTES and len(value) > CHUNK:
            parts.append((field.number, ("bytes", message, field.name, len(value))))
        else:
            setattr(rest, field.name, value)
    size = len(rest.SerializeToString()) + sum(
        _field_size(number, plan[-1]) for number, plan in parts)
    if size <= CHUNK and not any(plan[0] == "bytes" for _, plan in parts):
        return ("whole", message, size)
    return ("fields", rest, parts, size)


def _write(plan, write):
    if plan[0] == "whole":
        data = plan[1].SerializeToString()
        if len(data) != plan[-1]:
            raise RuntimeError(f"a {type(plan[1]).__name__} serialized to {len(data)} bytes, "
                               f"{plan[-1]} were counted; it holds fields this writer cannot see")
        write(data)
        return
    if plan[0] == "bytes":
        write(getattr(plan[1], plan[2]))
        return
    write(plan[1].SerializeToString())
    for number, part in plan[2]:
        write(_key(number) + _varint(part[-1]))
        _write(part, write)


def _has_unknown_fields(message):
    """Whether ``message`` holds fields its protobuf does not know (True when it cannot tell)."""
    try:
        from google.protobuf import unknown_fields
    except ImportError:  # protobuf before 4.22, which onnx and TensorFlow still accept
        try:
            return len(message.UnknownFields()) > 0
        except NotImplementedError:  # 4.21's upb: serialize whole, as before
            return True
    return len(unknown_fields.UnknownFieldSet(message)) > 0


def _field_size(number, size):
    return len(_key(number)) + len(_varint(size)) + size


def _key(number):
    return _varint(number << 3 | _LENGTH_DELIMITED)


def _varint(value):
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)
