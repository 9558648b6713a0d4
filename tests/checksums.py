"""The input checksum's definition computed value by value in plain Python (docs/numerics.md,
"Edits of x after the forward"): the independent expected value for the BN's and the
family's checksum tests."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from numpy.typing import NDArray

FArray = NDArray[np.floating[Any]]

KEY, MUL, WORD = 0x9E3779B1, 0x85EBCA77, 0xFFFFFFFF


def mix(w: int, key: int) -> int:
    v = ((w ^ key) * MUL) & WORD
    return v ^ (v >> 15)


def reference_checksum(x: FArray, axis: int) -> list[int]:
    """The definition, value by value: Σ mix(word, key_i) mod 2^32 per channel, i the value's
    position among its channel's values in C order, key_i = i·KEY; a float32 value is one
    word, a float64 (or float16, widened exactly) its low word keyed key_i plus its high word
    keyed ~key_i."""
    outer = int(np.prod(x.shape[:axis]))
    inner = int(np.prod(x.shape[axis + 1 :]))
    x3 = x.reshape(outer, x.shape[axis], inner)  # logical C order, whatever the layout
    sums = []
    for c in range(x.shape[axis]):
        h = 0
        for o in range(outer):
            for k in range(inner):
                i = o * inner + k
                key = (i * KEY) & WORD
                v = x3[o, c, k]
                if x.dtype == np.float32:
                    h += mix(struct.unpack("<I", struct.pack("<f", float(v)))[0], key)
                else:
                    (bits,) = struct.unpack("<Q", struct.pack("<d", float(v)))
                    h += mix(bits & WORD, key) + mix(bits >> 32, key ^ WORD)
        sums.append(h & WORD)
    return sums
