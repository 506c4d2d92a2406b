"""A bounds check of a .tflite flatbuffer before an interpreter sees it.

tflite-runtime does not verify the flatbuffer it loads: a truncated model file
crashes the process (SIGSEGV) instead of raising.  This check walks the parts
of the TFLite schema an interpreter reads at load time (tables, vectors,
strings, buffer data) and raises ``ValueError`` if any of them points past the
end of the file.  Flatbuffer offsets only point forward, so the walk ends.

Schema: tensorflow/lite/schema/schema.fbs; a table's fields are numbered by
their vtable slot (0 = first field).
"""
import struct

_VEC4, _VEC8, _VEC1, _STR = "vec4", "vec8", "vec1", "str"
_TABLE = "table"  # a table whose fields are not checked (union members)

# table name -> {slot: kind}; a kind naming another table is one table, a
# one-element list is a vector of those tables.
_SCHEMA = {
    "Model": {1: ["OperatorCode"], 2: ["SubGraph"], 3: _STR, 4: ["Buffer"], 5: _VEC4,
              6: ["Metadata"], 7: ["SignatureDef"]},
    "OperatorCode": {1: _STR},
    "SubGraph": {0: ["Tensor"], 1: _VEC4, 2: _VEC4, 3: ["Operator"], 4: _STR},
    "Tensor": {0: _VEC4, 3: _STR, 4: "QuantizationParameters", 6: _TABLE, 7: _VEC4,
               10: ["VariantSubType"]},
    "Operator": {1: _VEC4, 2: _VEC4, 5: _TABLE, 6: _VEC1, 8: _VEC1, 9: _VEC4, 13: _TABLE},
    "Buffer": {0: _VEC1},
    "Metadata": {0: _STR},
    "SignatureDef": {0: ["TensorMap"], 1: ["TensorMap"], 2: _STR},
    "TensorMap": {0: _STR},
    "QuantizationParameters": {0: _VEC4, 1: _VEC4, 2: _VEC4, 3: _VEC8, 5: _TABLE},
    "VariantSubType": {0: _VEC4},
    _TABLE: {},
}
# (table, offset slot, size slot) of data stored outside the flatbuffer (models > 2 GB)
_EXTERNAL = {"Buffer": (1, 2), "Operator": (10, 11)}


def check_tflite(data):
    """Raise ``ValueError`` unless ``data`` (bytes) is a structurally sound TFLite model."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError("not a TFLite flatbuffer (no 'TFL3' identifier)")
    try:
        _Walker(data).table(_u32(data, 0), "Model")
    except struct.error as exc:
        raise ValueError(f"malformed TFLite flatbuffer ({exc})") from None


class _Walker:
    def __init__(self, data):
        self.data, self.n = data, len(data)

    def need(self, pos, size, what):
        if pos < 0 or pos + size > self.n:
            raise ValueError(f"{what} at byte {pos} runs past the end of the file "
                             f"({self.n} bytes): the file is truncated")

    def table(self, pos, name):
        self.need(pos, 4, f"{name} table")
        vt = pos - struct.unpack_from("<i", self.data, pos)[0]
        self.need(vt, 4, f"{name} vtable")
        vt_len, obj_len = struct.unpack_from("<HH", self.data, vt)
        self.need(vt, vt_len, f"{name} vtable")
        self.need(pos, obj_len, f"{name} table")
        slots = {}
        for slot in range(max(0, (vt_len - 4) // 2)):
            off = struct.unpack_from("<H", self.data, vt + 4 + 2 * slot)[0]
            if off:
                slots[slot] = pos + off
        for slot, kind in _SCHEMA[name].items():
            if slot in slots:
                self.field(slots[slot], kind, name)
        if name in _EXTERNAL:
            self.external(slots, *_EXTERNAL[name], name)

    def field(self, pos, kind, owner):
        self.need(pos, 4, f"{owner} field")
        target = pos + _u32(self.data, pos)
        if isinstance(kind, list):
            count = self.vector(target, 4, f"{owner}.{kind[0]} vector")
            for i in range(count):
                elem = target + 4 + 4 * i
                self.table(elem + _u32(self.data, elem), kind[0])
        elif kind == _STR:
            self.vector(target, 1, f"{owner} string", extra=1)
        elif kind in (_VEC1, _VEC4, _VEC8):
            self.vector(target, int(kind[3]), f"{owner} vector")
        else:
            self.table(target, kind)

    def vector(self, pos, elem_size, what, extra=0):
        self.need(pos, 4, what)
        count = _u32(self.data, pos)
        self.need(pos, 4 + count * elem_size + extra, what)
        return count

    def external(self, slots, offset_slot, size_slot, name):
        if offset_slot in slots and size_slot in slots:
            offset = struct.unpack_from("<Q", self.data, slots[offset_slot])[0]
            size = struct.unpack_from("<Q", self.data, slots[size_slot])[0]
            if offset > 1:  # 0 and 1 mean "no external data"
                self.need(offset, size, f"{name} data")


def _u32(data, pos):
    return struct.unpack_from("<I", data, pos)[0]
