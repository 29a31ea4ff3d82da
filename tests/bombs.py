"""Decompression bombs for tests, written in milliseconds (PIL takes ~15 s to save a 20000 x 20000 image)."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path


def bomb_png(path: Path, width: int = 20_000, height: int = 20_000) -> Path:
    """A black 1-bit PNG of width x height (20000 x 20000: 400 M pixels, above PIL's own limit) in ~50 KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)                        # filter byte 0, then the row's bits (all 0: black)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)          # 1 bit, greyscale
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return Path(path)
