"""crc32c at memory speed, from the absl library inside TensorFlow's own shared library.

Python has no crc32c (Castagnoli) of its own, and the pure-Python one in
:mod:`converters.tablefile` runs at kilobytes per millisecond: fine for an
index, hopeless for gigabytes of tensors. TensorFlow ships absl's hardware
accelerated ``crc_internal::ExtendCrc32cInternal`` in
``libtensorflow_framework``; this module finds its (versioned, mangled) name
in the library's dynamic symbol table and calls it through ctypes, which also
releases the GIL while it runs.

:func:`extender` returns None when the symbol is absent or does not compute
the standard check values: callers then fall back to TF's checkpoint reader,
which checks every tensor's crc32c as it reads it.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import struct
from collections.abc import Callable

_SYMBOL = re.compile(
    rb"_ZN4absl\w*?12crc_internal20ExtendCrc32cInternalENS0_8crc32c_t"
    rb"ESt17basic_string_viewIcSt11char_traitsIcEE"
)
_SHT_DYNSYM = 11
_CHECK = (b"123456789", 0xE3069283)  # crc32c's standard check value


class _StringView(ctypes.Structure):
    """libstdc++'s std::string_view layout: length, then pointer."""

    _fields_ = [("size", ctypes.c_size_t), ("data", ctypes.c_void_p)]


def _dynamic_strings(path: str) -> bytes:
    """The string table of an ELF64 little-endian shared library's dynamic symbols."""
    with open(path, "rb") as stream:
        header = stream.read(64)
        if header[:6] != b"\x7fELF\x02\x01":
            return b""
        (table,) = struct.unpack_from("<Q", header, 0x28)
        entry_size, count = struct.unpack_from("<HH", header, 0x3A)
        stream.seek(table)
        sections = [
            struct.unpack("<IIQQQQIIQQ", stream.read(entry_size)[:64]) for _ in range(count)
        ]
        for section in sections:
            if section[1] == _SHT_DYNSYM:
                strings = sections[section[6]]  # sh_link: its string table
                stream.seek(strings[4])
                return stream.read(strings[5])
    return b""


def _framework_library() -> str | None:
    import tensorflow as tf

    path = os.path.join(tf.sysconfig.get_lib(), "libtensorflow_framework.so.2")
    return path if os.path.isfile(path) else None


@functools.cache
def extender() -> Callable[[int, int, int], int] | None:
    """``extend(crc, address, size)``: crc32c continued over ``size`` bytes at ``address``.

    None when this TensorFlow build offers no usable crc32c (see the module doc).
    """
    try:
        path = _framework_library()
        found = _SYMBOL.search(_dynamic_strings(path)) if path else None
        if found is None:
            return None
        function = getattr(ctypes.CDLL(path), found.group(0).decode())
    except (OSError, AttributeError, struct.error):
        return None
    function.restype = ctypes.c_uint32
    function.argtypes = [ctypes.c_uint32, _StringView]

    def extend(crc: int, address: int, size: int) -> int:
        return function(crc, _StringView(size, address))

    data, expected = _CHECK
    buffer = ctypes.create_string_buffer(data, len(data))
    whole = extend(0, ctypes.addressof(buffer), len(data))
    halves = extend(extend(0, ctypes.addressof(buffer), 4), ctypes.addressof(buffer) + 4, 5)
    return extend if whole == expected == halves else None
