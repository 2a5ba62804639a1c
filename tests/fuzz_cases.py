"""Poison records for the consumer, generated deterministically (seeded): what a broken camera, a
buggy or hostile producer, or a bit-rotten disk can put on the frames topic.

`fuzz_cases(seed)` returns FuzzCase items. `expect` says what must become of each, declared from how
the case was built (byte-level reasoning about the formats, never by asking the product's decoder):
- "score": a valid image (a 1x1 PNG, a 16-bit PNG, a 36-megapixel PNG of zeros, a JPEG with bits
  flipped only inside its entropy-coded data ...): scored, and equal to offline scoring of the same bytes;
- "dlq:<stage>:<text>": dead-lettered at that stage with an error containing <text>, or starting
  with it when <text> begins with "^" (for junk after a valid magic, where only the format is known).

The rules for mutated images, each checked against OpenCV (`cv2.imdecode`) on every case of the
generator by tests/test_fuzz_expectations.py:
- a PNG cut anywhere: dead-lettered at decode, "not an image" when the cut is inside the 8-byte
  signature, "png payload could not be decoded" otherwise (after the end of the IDAT data too:
  OpenCV 5 reads through IEND and refuses a buffer that ends early);
- a JPEG cut anywhere: "not an image" inside the 3 magic bytes, otherwise "jpeg payload could not
  be decoded", wherever the cut is (before the start-of-scan marker, in its header, in the
  entropy-coded data, in the EOI marker): OpenCV 5 treats libjpeg's "premature end of data" as an
  error rather than returning a grey-filled partial image;
- a PNG with 1-16 distinct bits flipped after the signature, none in IEND's CRC (which OpenCV does
  not check; the pixels are intact there): some chunk's CRC no longer matches its bytes (the
  generator checks, walking the chunks as a reader would), so it is dead-lettered at decode; the
  reason follows the width and height IHDR now declares (bytes 16-24): zero -> "declares an empty
  image", more than max_image_pixels -> "over the limit", else "png payload could not be decoded";
- a JPEG with 1-16 distinct bits flipped only inside its entropy-coded data, never in a 0xFF byte or
  the byte after one and never turning a byte into 0xFF: every marker stays where it was, libjpeg
  only warns about bad Huffman codes, so it is scored;
- a palette PNG without its PLTE chunk: "png payload could not be decoded";
- a valid magic followed by random junk: dead-lettered at decode, with a reason that names the
  format the magic claimed (the junk may or may not declare a size over the limit).
"""

from __future__ import annotations

import struct
import time
import zlib
from typing import NamedTuple

import cv2
import numpy as np

from pipelines.wire import FrameMeta, GroundTruth, frame_headers

CASE_HEADER = "fuzz.case"


class FuzzCase(NamedTuple):
    case: int
    kind: str
    key: bytes | None
    value: bytes | None
    headers: list
    expect: str


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(
    width: int, height: int, bit_depth: int, colour_type: int, rows: bytes | None = None, idat: bytes | None = None
) -> bytes:
    """A PNG written by hand, so headers can say anything (OpenCV refuses to write most of these)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    if idat is None:
        idat = zlib.compress(rows if rows is not None else b"", 6)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def zero_png_bomb(side: int) -> bytes:
    """A side x side RGB PNG of zeros: ~100 KB on the wire, side*side*3 bytes decoded."""
    row = b"\x00" * (1 + 3 * side)  # filter byte + pixels
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(side)]
    parts.append(comp.flush())
    return raw_png(side, side, 8, 2, idat=b"".join(parts))


def jpeg_with_size(base: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose SOF header is rewritten to declare width x height."""
    data = bytearray(base)
    i = 2
    while i < len(data) - 9:
        if data[i] == 0xFF and 0xC0 <= data[i + 1] <= 0xCF and data[i + 1] not in (0xC4, 0xC8, 0xCC):
            data[i + 5 : i + 7] = height.to_bytes(2, "big")
            data[i + 7 : i + 9] = width.to_bytes(2, "big")
            return bytes(data)
        seg = int.from_bytes(data[i + 2 : i + 4], "big") if data[i] == 0xFF else 0
        i += 2 + seg if data[i] == 0xFF else 1
    raise ValueError("no SOF marker")


def bmp_header(width: int, height: int) -> bytes:
    """A BMP file header + info header declaring width x height, 24-bit, with no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


def png_chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, data length, type) of each chunk of a well-formed PNG, IHDR first, IEND last."""
    assert data.startswith(PNG_SIGNATURE)
    out, i = [], len(PNG_SIGNATURE)
    while i < len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        out.append((i, n, data[i + 4 : i + 8]))
        i += 12 + n
    assert i == len(data) and out[0][2] == b"IHDR" and out[-1][2] == b"IEND", [c[2] for c in out]
    return out


def png_crc_broken(data: bytes) -> bool:
    """Whether a reader walking the chunks (by their length fields) meets a CRC that does not match
    its chunk's type and data, or a chunk that runs past the end, before IEND."""
    i = len(PNG_SIGNATURE)
    while True:
        if i + 12 > len(data):
            return True
        n = int.from_bytes(data[i : i + 4], "big")
        if i + 12 + n > len(data):
            return True
        if int.from_bytes(data[i + 8 + n : i + 12 + n], "big") != zlib.crc32(data[i + 4 : i + 8 + n]):
            return True
        if data[i + 4 : i + 8] == b"IEND":
            return False
        i += 12 + n


def jpeg_scan(data: bytes) -> tuple[int, int]:
    """(offset of the SOS marker, offset of the first entropy-coded byte) of a single-scan baseline
    JPEG as OpenCV writes it; checks that no marker (no RSTn, no second scan) sits in the
    entropy-coded data before the final EOI."""
    assert data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")
    i = 2
    while data[i + 1] != 0xDA:
        assert data[i] == 0xFF
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    start = i + 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    ff = [j for j in range(start, len(data) - 2) if data[j] == 0xFF]
    assert all(data[j + 1] == 0x00 for j in ff), "a marker inside the entropy-coded data"
    return i, start


def declared_png_outcome(data: bytes, max_pixels: int) -> str:
    """What a PNG whose CRC is broken must get, by the width and height at bytes 16-24 (IHDR's)."""
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if w == 0 or h == 0:
        return "dlq:decode:png header declares an empty image"
    if w * h > max_pixels:
        return "dlq:decode:over the limit"
    return "dlq:decode:png payload could not be decoded"


def flip_bits(data: bytes, rng: np.random.Generator, n: int, positions: list[int]) -> bytes:
    """`n` distinct bits flipped, in bytes drawn from `positions` (so no flip undoes another)."""
    out = bytearray(data)
    done: set[tuple[int, int]] = set()
    while len(done) < n:
        flip = (int(positions[int(rng.integers(0, len(positions)))]), int(rng.integers(0, 8)))
        if flip not in done:
            done.add(flip)
            out[flip[0]] ^= 1 << flip[1]
    return bytes(out)


def flipped_png(src: bytes, rng: np.random.Generator, max_pixels: int, in_ihdr: bool = False) -> tuple[bytes, str]:
    """1-16 bits flipped anywhere after the signature except IEND's CRC (or only in the IHDR chunk,
    25 bytes of a file of thousands, where the declared size lives); a chunk CRC is broken."""
    ihdr = png_chunks(src)[0]  # the layout is a PNG's, IHDR first, ending in IEND's CRC
    end = ihdr[0] + 12 + ihdr[1] if in_ihdr else len(src) - 4
    positions = list(range(len(PNG_SIGNATURE), end))
    while True:
        data = flip_bits(src, rng, int(rng.integers(1, 17)), positions)
        if png_crc_broken(data):  # a CRC-32 collision would need 2**-32 luck; draw again then
            return data, declared_png_outcome(data, max_pixels)


def flipped_jpeg(src: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """1-16 bits flipped inside the entropy-coded data, never in or into a 0xFF byte, nor in the
    stuffed 0x00 after one: the marker structure is unchanged, so it decodes (and is scored)."""
    _, start = jpeg_scan(src)
    positions = [i for i in range(start, len(src) - 2) if src[i] != 0xFF and src[i - 1] != 0xFF]
    out = bytearray(src)
    done: set[tuple[int, int]] = set()
    n = int(rng.integers(1, 17))
    while len(done) < n:
        pos, bit = int(positions[int(rng.integers(0, len(positions)))]), int(rng.integers(0, 8))
        if (pos, bit) in done or src[pos] ^ (1 << bit) == 0xFF:
            continue
        done.add((pos, bit))
        out[pos] ^= 1 << bit
    assert [i for i, b in enumerate(out) if b == 0xFF] == [i for i, b in enumerate(src) if b == 0xFF]
    return bytes(out), "score"


PNG_CUTS = ("in the signature", "before the IDAT data", "in the IDAT data", "after the IDAT data")
JPEG_CUTS = (
    "in the magic",
    "before the SOS marker",
    "in the SOS header",
    "in the entropy-coded data",
    "in the EOI marker",
)


def truncated(src: bytes, rng: np.random.Generator, region: int) -> tuple[str, bytes, str]:
    """`src` cut at a random point of one region of the file: (region name, bytes, expect)."""
    if src.startswith(PNG_SIGNATURE):
        chunks = png_chunks(src)
        idat = [c for c in chunks if c[2] == b"IDAT"]
        first, end = idat[0][0] + 8, idat[-1][0] + 8 + idat[-1][1]  # first and one past the last IDAT data byte
        bounds = [1, len(PNG_SIGNATURE), first, end, len(src)]
        name, kind = PNG_CUTS[region % len(PNG_CUTS)], "png"
        region %= len(PNG_CUTS)
    else:
        sos, start = jpeg_scan(src)
        bounds = [1, len(JPEG_MAGIC), sos, start, len(src) - 2, len(src)]
        name, kind = JPEG_CUTS[region % len(JPEG_CUTS)], "jpeg"
        region %= len(JPEG_CUTS)
    cut = int(rng.integers(bounds[region], bounds[region + 1]))
    expect = "dlq:decode:not an image" if region == 0 else f"dlq:decode:{kind} payload could not be decoded"
    return name, src[:cut], expect


def offline_decode(value: bytes) -> np.ndarray:
    """The bytes as the scorer must see them, decoded here rather than by the product's decode_image:
    OpenCV's imdecode with IMREAD_UNCHANGED (no colour conversion, so grey stays grey and 16 bits stay
    16 bits), then the normalisation the wire format implies for an 8-bit model: 16-bit samples keep
    their high byte (v >> 8), an alpha channel is dropped (BGRA -> BGR, B, G, R untouched), a grey
    image stays (H, W). Anything else (float, other channel counts) is not expected among the cases."""
    img = cv2.imdecode(np.frombuffer(value, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None, "a case declared 'score' that OpenCV cannot decode: the case's rule is wrong"
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    assert img.dtype == np.uint8, img.dtype
    if img.ndim == 3 and img.shape[2] == 4:
        img = np.ascontiguousarray(img[:, :, :3])
    assert img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3), img.shape
    return img


def fuzz_cases(
    seed: int,
    images: list[np.ndarray],
    valid: int,
    streams: int = 4,
    prefix: str = "fuzz",
    max_frame_bytes: int = 1_000_000,
    bomb_burst: bool = True,
    max_image_pixels: int = 40_000_000,
) -> list[FuzzCase]:
    """`valid` good frames and 1,044 bad or odd ones, interleaved in a seeded order.

    Frames with good headers get consecutive seqs per stream in the order returned (so the
    consumer's gap check sees no gap); each record carries its case number in a `fuzz.case` header.
    """
    rng = np.random.default_rng(seed)
    jpegs = [cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for img in images]
    pngs = [cv2.imencode(".png", img)[1].tobytes() for img in images]
    items: list[tuple[str, str, bytes | None, str]] = []  # (kind, header mode, value, expect)

    def add(kind: str, value: bytes | None, expect: str, headers: str = "good", times: int = 1) -> None:
        for _ in range(times):
            items.append((kind, headers, value, expect))

    for i in range(valid):
        add("valid jpeg" if i % 3 else "valid png", (jpegs if i % 3 else pngs)[i % len(images)], "score")
    # Truncated images: cut in each region of the file in turn (in the magic bytes only one cut in ten),
    # from the first byte to one byte short.
    for i in range(250):
        src = jpegs[i % len(jpegs)] if i % 2 else pngs[i % len(pngs)]
        regions = len(JPEG_CUTS if i % 2 else PNG_CUTS)
        region, value, expect = truncated(src, rng, 0 if i // 2 % 10 == 9 else 1 + i // 2 % (regions - 1))
        add(f"truncated {'jpeg' if i % 2 else 'png'}: {region}", value, expect)
    # Bit flips: 1-16 distinct bits; PNG anywhere after the signature (but IEND's CRC), JPEG in its scan data.
    for i in range(400):
        if i % 2:
            value, expect = flipped_jpeg(jpegs[i % len(jpegs)], rng)
            add("bit-flipped jpeg (scan data)", value, expect)
        else:
            in_ihdr = i % 8 == 0
            value, expect = flipped_png(pngs[i % len(pngs)], rng, max_image_pixels, in_ihdr)
            add("bit-flipped png" + (" (IHDR)" if in_ihdr else ""), value, expect)
    add("empty", b"", "dlq:validate:empty payload", times=20)
    add("null value", None, "dlq:validate:empty payload", times=5)
    huge = rng.integers(0, 256, max_frame_bytes + 4096, dtype=np.uint8).tobytes()
    add("huge", b"\xff\xd8\xff" + huge, "dlq:validate:over consumer.max_frame_bytes", times=4)
    # Tiny but valid.
    add("1x1 png", cv2.imencode(".png", np.full((1, 1, 3), 200, np.uint8))[1].tobytes(), "score", times=10)
    add("1x1 grey png", cv2.imencode(".png", np.full((1, 1), 50, np.uint8))[1].tobytes(), "score", times=5)
    add("1x1 jpeg", cv2.imencode(".jpg", np.full((1, 1, 3), 90, np.uint8))[1].tobytes(), "score", times=5)
    # Headers declaring a huge image (decompression bombs by declaration): refused before decoding.
    add("png 10000x10000 header", raw_png(10000, 10000, 8, 2, rows=b"\x00" * 64), "dlq:decode:over the limit", times=10)
    add("jpeg 10000x10000 header", jpeg_with_size(jpegs[0], 10000, 10000), "dlq:decode:over the limit", times=10)
    add("bmp 10000x10000 header", bmp_header(10000, 10000), "dlq:decode:over the limit", times=5)
    add("png 0x0 header", raw_png(0, 0, 8, 2, rows=b""), "dlq:decode:declares an empty image", times=5)
    add("jpeg 65535x65535 header", jpeg_with_size(jpegs[1], 65535, 65535), "dlq:decode:over the limit", times=5)
    # A real decompression bomb under the pixel limit: 6000x6000 RGB of zeros, ~100 KB -> 108 MB decoded.
    # Valid, so scored; the consumer's decoded-memory budget keeps several of them from piling up.
    bomb = zero_png_bomb(6000)
    add("6000x6000 zero png (36 MP)", bomb, "score", times=8)
    # Channel counts and bit depths.
    g = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    add("grey png", cv2.imencode(".png", g)[1].tobytes(), "score", times=5)
    add(
        "grey+alpha png (2 channels)",
        raw_png(8, 6, 8, 4, rows=b"".join(b"\x00" + bytes(range(16)) for _ in range(6))),
        "score",
        times=5,
    )
    add(
        "rgba png",
        cv2.imencode(".png", rng.integers(0, 256, (20, 24, 4), dtype=np.uint8))[1].tobytes(),
        "score",
        times=5,
    )
    add(
        "16-bit rgb png",
        cv2.imencode(".png", rng.integers(0, 65536, (20, 24, 3), dtype=np.uint16))[1].tobytes(),
        "score",
        times=5,
    )
    add(
        "16-bit grey png",
        cv2.imencode(".png", rng.integers(0, 65536, (20, 24), dtype=np.uint16))[1].tobytes(),
        "score",
        times=5,
    )
    add(
        "palette png",
        raw_png(4, 4, 8, 3, rows=b"\x00\x00\x00\x00\x00" * 4),  # no PLTE chunk: no colours
        "dlq:decode:png payload could not be decoded",
        times=3,
    )
    add("1-bit grey png", raw_png(16, 2, 1, 0, rows=b"\x00\xaa\x55" * 2), "score", times=3)
    add("pgm", b"P5 7 5 255\n" + bytes(range(35)), "dlq:decode:not an image the wire accepts: pgm", times=3)
    add(
        "bmp 32-bit",
        cv2.imencode(".bmp", rng.integers(0, 256, (9, 7, 3), dtype=np.uint8))[1].tobytes(),
        "score",
        times=3,
    )
    # Bytes that are not an image at all.
    for _ in range(40):
        add(
            "random bytes",
            b"\x00" + rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes(),
            "dlq:decode:not an image",
        )
    add("text", b"hello, this is plain text and not a picture", "dlq:decode:not an image", times=5)
    add("json", b'{"stream": "cam", "frame": [1, 2, 3]}', "dlq:decode:not an image", times=5)
    add("gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "dlq:decode:not an image", times=5)
    add("pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj", "dlq:decode:not an image", times=5)
    add("tiff", b"II*\x00\x08\x00\x00\x00" + b"\x00" * 32, "dlq:decode:not an image", times=5)
    add(
        "jpeg magic + junk",
        b"\xff\xd8\xff" + rng.integers(0, 256, 500, dtype=np.uint8).tobytes(),
        "dlq:decode:^jpeg ",
        times=10,
    )
    add(
        "png magic + junk",
        b"\x89PNG\r\n\x1a\n" + rng.integers(0, 256, 500, dtype=np.uint8).tobytes(),
        "dlq:decode:^png ",
        times=10,
    )
    add("bmp magic + junk", b"BM" + rng.integers(0, 256, 500, dtype=np.uint8).tobytes(), "dlq:decode:^bmp ", times=10)
    # Headers: missing, malformed, duplicated, not UTF-8; keys that do not match.
    good = jpegs[0]
    for mode, expect in (
        ("no headers", "dlq:validate:missing header 'stream'"),
        ("missing seq", "dlq:validate:missing header 'seq'"),
        ("missing capture_ns", "dlq:validate:missing header 'capture_ns'"),
        ("missing encoding", "dlq:validate:missing header 'encoding'"),
        ("seq not a number", "dlq:validate:header 'seq'"),
        ("negative seq", "dlq:validate:header 'seq'"),
        ("seq with spaces", "dlq:validate:header 'seq'"),
        ("huge seq", "ok-huge-seq"),
        ("duplicate seq", "dlq:validate:appears more than once"),
        ("unknown encoding", "dlq:validate:header 'encoding'"),
        ("empty stream", "dlq:validate:header 'stream' is empty"),
        ("non-utf8 stream", "dlq:validate:not UTF-8"),
        ("non-utf8 seq", "dlq:validate:not UTF-8"),
        ("level 9", "dlq:validate:header 'level'"),
        ("challenge without level", "dlq:validate:partial ground truth: missing header 'level'"),
        ("challenge and level only", "dlq:validate:partial ground truth: missing header 'sign'"),
        ("null key", "dlq:validate:record has no key"),
        ("key differs from stream", "dlq:validate:differs from its stream header"),
        ("non-utf8 key", "dlq:validate:differs from its stream header"),
        ("empty seq", "dlq:validate:header 'seq'"),
    ):
        if mode == "huge seq":
            continue  # a valid header (no upper bound) would break the stream's seq order; not a poison case
        add(f"headers: {mode}", good, expect, headers=mode, times=10)

    # Everything in a seeded random order, except the bombs: they come in one burst in the middle,
    # the worst case for memory (without a budget they would all be decoded at once).
    bombs = [i for i, it in enumerate(items) if it[0].startswith("6000x6000") and bomb_burst]
    rest = [i for i in rng.permutation(len(items)) if i not in set(bombs)]
    order = rest[: len(rest) // 2] + bombs + rest[len(rest) // 2 :]
    out: list[FuzzCase] = []
    seqs = {f"{prefix}-{i}": 0 for i in range(streams)}
    for case, idx in enumerate(order):
        kind, mode, value, expect = items[idx]
        stream = f"{prefix}-{case % streams}"
        out.append(_record(case, kind, mode, value, expect, stream, seqs))
    return out


def _record(case: int, kind: str, mode: str, value: bytes | None, expect: str, stream: str, seqs: dict) -> FuzzCase:
    key = stream.encode()
    tag = (CASE_HEADER, str(case).encode())
    if mode == "good":
        meta = FrameMeta(stream, seqs[stream], time.time_ns(), "fuzz", "jpeg")
        seqs[stream] += 1
        return FuzzCase(case, kind, key, value, frame_headers(meta) + [tag], expect)
    # Bad headers or keys never reach the consumer's seq check: a fixed seq, the stream's is not advanced.
    h = dict(frame_headers(FrameMeta(stream, 0, time.time_ns(), "fuzz", "jpeg")))
    headers: list
    if mode == "no headers":
        headers = []
    elif mode.startswith("missing "):
        h.pop(mode.split(" ", 1)[1])
        headers = list(h.items())
    elif mode == "seq not a number":
        headers = list({**h, "seq": b"12x"}.items())
    elif mode == "negative seq":
        headers = list({**h, "seq": b"-3"}.items())
    elif mode == "seq with spaces":
        headers = list({**h, "seq": b" 7"}.items())
    elif mode == "duplicate seq":
        headers = list(h.items()) + [("seq", b"1")]
    elif mode == "unknown encoding":
        headers = list({**h, "encoding": b"webp"}.items())
    elif mode == "empty stream":
        headers = list({**h, "stream": b""}.items())
    elif mode == "non-utf8 stream":
        headers = list({**h, "stream": b"cam\xff\xfe"}.items())
        key = b"cam\xff\xfe"
    elif mode == "non-utf8 seq":
        headers = list({**h, "seq": b"\xff1"}.items())
    elif mode == "level 9":
        truth = GroundTruth("rain", 3, "stop", "x")
        headers = list(dict(frame_headers(FrameMeta(stream, 0, time.time_ns(), "fuzz", "jpeg", truth))).items())
        headers = [(k, b"9" if k == "level" else v) for k, v in headers]
    elif mode == "challenge without level":
        headers = list({**h, "challenge": b"rain"}.items())
    elif mode == "challenge and level only":
        headers = list({**h, "challenge": b"rain", "level": b"3"}.items())
    elif mode == "null key":
        headers = list(h.items())
        key = None
    elif mode == "key differs from stream":
        headers = list(h.items())
        key = b"someone-else"
    elif mode == "non-utf8 key":
        headers = list(h.items())
        key = stream.encode() + b"\xff"
    elif mode == "empty seq":
        headers = list({**h, "seq": b""}.items())
    else:
        raise ValueError(mode)
    return FuzzCase(case, kind, key, value, headers + [tag], expect)
