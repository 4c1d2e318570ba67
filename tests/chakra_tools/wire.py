"""A minimal protobuf wire-format decoder, written independently of our reader and of the protobuf library."""

from __future__ import annotations

import struct


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes) -> list[tuple[int, int, object]]:
    """[(field number, wire type, value)]; length-delimited values stay bytes, fixed64/32 stay raw ints."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = varint(buf, pos)
        elif wt == 1:
            val = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wt == 2:
            n, pos = varint(buf, pos)
            val = buf[pos:pos + n]
            pos += n
        elif wt == 5:
            val = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise ValueError(f"wire type {wt}")
        out.append((num, wt, val))
    return out


def messages(data: bytes) -> list[bytes]:
    """Split varint-length-prefixed messages."""
    out = []
    pos = 0
    while pos < len(data):
        n, pos = varint(data, pos)
        out.append(data[pos:pos + n])
        pos += n
    return out


def packed(buf: bytes) -> list[int]:
    vals, pos = [], 0
    while pos < len(buf):
        v, pos = varint(buf, pos)
        vals.append(v)
    return vals


def zigzag(v: int) -> int:
    return (v >> 1) ^ -(v & 1)
