"""Strict decoding of what cameras and data sets deliver."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from monitor.preprocess import (
    PREPARED_SIZE,
    ImageError,
    area_shrink,
    decode_frame,
    decode_image,
    prepare_frames,
    reduction_factor,
    to_model_input,
)

from .helpers import belgium_frames, render_sign


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp"])
def test_every_format_decodes(ext: str) -> None:
    img = belgium_frames(1)[0]
    ok, buf = cv2.imencode(ext, img)
    out = decode_image(buf.tobytes())
    assert out.shape == img.shape and out.dtype == np.uint8


def test_grey_and_16_bit_and_alpha_are_normalised() -> None:
    img = render_sign(40)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert decode_image(cv2.imencode(".png", grey)[1].tobytes()).shape == (40, 40)
    sixteen = img.astype(np.uint16) * 257
    out = decode_image(cv2.imencode(".png", sixteen)[1].tobytes())
    assert out.dtype == np.uint8 and np.abs(out.astype(int) - img).max() <= 1
    bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    assert decode_image(cv2.imencode(".png", bgra)[1].tobytes()).shape == (40, 40, 3)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "empty payload"),
        (b"GIF89a....", "not an image"),
        (b'{"json": true}', "not an image"),
    ],
)
def test_not_images(payload: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        decode_image(payload)


@pytest.mark.parametrize("ext, kind", [(".pgm", "pgm"), (".ppm", "ppm")])
def test_netpbm_is_refused_by_name_since_the_wire_does_not_list_it(ext: str, kind: str) -> None:
    img = belgium_frames(1)[0]
    data = cv2.imencode(ext, cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if kind == "pgm" else img)[1].tobytes()
    with pytest.raises(ImageError, match=f"not an image the wire accepts: {kind} \\(expected jpeg, png or bmp\\)"):
        decode_image(data)


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """A JPEG with an APP1 EXIF segment holding one IFD0 entry: Orientation (tag 0x0112, SHORT)."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01"  # big-endian TIFF header, IFD0 with one entry
    tiff += b"\x01\x12\x00\x03\x00\x00\x00\x01" + orientation.to_bytes(2, "big") + b"\x00\x00"
    tiff += b"\x00\x00\x00\x00"  # no next IFD
    body = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body + jpeg[2:]


def test_exif_orientation_is_ignored_pixels_come_as_stored() -> None:
    img = render_sign(64)[:, :40]  # not square: a 90-degree rotation would swap the shape
    jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    rotated_tag = _with_exif_orientation(jpeg, 6)  # 6: "rotate 90 degrees clockwise to display"
    # The tag is real: OpenCV's default reader applies it.
    assert cv2.imdecode(np.frombuffer(rotated_tag, np.uint8), cv2.IMREAD_COLOR).shape == (40, 64, 3)
    out = decode_image(rotated_tag)
    assert out.shape == (64, 40, 3)
    np.testing.assert_array_equal(out, decode_image(jpeg))


def test_truncated_and_bomb_headers() -> None:
    png = cv2.imencode(".png", render_sign(64))[1].tobytes()
    with pytest.raises(ImageError, match="could not be decoded"):
        decode_image(png[: len(png) // 2])
    bomb = bytearray(png)
    bomb[16:20] = (100_000).to_bytes(4, "big")
    bomb[20:24] = (100_000).to_bytes(4, "big")
    with pytest.raises(ImageError, match="over the limit"):
        decode_image(bytes(bomb))
    jpg = cv2.imencode(".jpg", render_sign(64))[1].tobytes()
    with pytest.raises(ImageError, match="64x64 pixels, over the limit"):
        decode_image(jpg, max_pixels=1000)


def test_model_input_from_any_sizes() -> None:
    frames = [render_sign(21), render_sign(700), cv2.cvtColor(render_sign(30), cv2.COLOR_BGR2GRAY)]
    x = to_model_input(frames)
    assert x.shape == (3, 3, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert to_model_input(frames, channels=1).shape == (3, 1, 28, 28)
    with pytest.raises(ImageError, match="expected HxW grey or HxWx3"):
        to_model_input([np.zeros((5, 5, 2), np.uint8)])


def test_model_input_is_rgb_pixels_over_255_in_float32_made_from_the_prepared_copy() -> None:
    import torch

    frames = belgium_frames(40)
    x = to_model_input(frames)
    assert x.dtype == torch.float32 and x.is_contiguous() and x.shape == (40, 3, 28, 28)
    for img, xi in zip(frames, x, strict=False):
        # The one resize to the 64x64 copy (averaging when shrinking), then 64 -> 28, then RGB.
        interp = cv2.INTER_AREA if min(img.shape[:2]) >= PREPARED_SIZE else cv2.INTER_LINEAR
        copy = cv2.resize(img, (PREPARED_SIZE, PREPARED_SIZE), interpolation=interp)
        rgb = cv2.cvtColor(cv2.resize(copy, (28, 28), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        expected = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
        assert torch.equal(xi, expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_the_consumer_s_prepared_copies_give_the_very_input_calibration_and_training_get(channels: int) -> None:
    import torch

    frames = belgium_frames(40) + [cv2.cvtColor(render_sign(300), cv2.COLOR_BGR2GRAY), render_sign(20)]
    prepared = prepare_frames(frames)
    assert prepared.shape == (42, PREPARED_SIZE, PREPARED_SIZE, 3) and prepared.dtype == np.uint8
    assert torch.equal(to_model_input(prepared, channels), to_model_input(frames, channels))
    assert np.array_equal(prepare_frames(list(prepared)), prepared)  # a prepared copy is its own copy
    with pytest.raises(ValueError, match="model input size 96 is over the prepared copy's 64 px"):
        to_model_input(frames, 3, 96)


def _jpeg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def test_large_jpegs_are_decoded_at_a_reduced_scale_keeping_their_native_size() -> None:
    big = cv2.resize(belgium_frames(1)[0], (1100, 700), interpolation=cv2.INTER_CUBIC)
    assert reduction_factor(1100, 700) == 4  # 700 / 8 = 87 < 128 <= 700 / 4
    d = decode_frame(_jpeg(big))
    assert d.image.shape == (175, 275, 3) and d.native_shape == (700, 1100)
    assert decode_image(_jpeg(big)).shape == (700, 1100, 3)  # decode_image: always full size
    grey = decode_frame(_jpeg(cv2.cvtColor(big, cv2.COLOR_BGR2GRAY)))
    assert grey.image.shape == (175, 275) and grey.native_shape == (700, 1100)
    small = render_sign(200)  # 200 / 2 = 100 < 128: full size
    assert decode_frame(_jpeg(small)).image.shape == (200, 200, 3)
    png = decode_frame(cv2.imencode(".png", big)[1].tobytes())  # only JPEG has DCT scaling
    assert png.image.shape == (700, 1100, 3) and png.native_shape == (700, 1100)
    # The reduced decode is the DCT's own low-pass: its prepared copy is close to the full decode's.
    full, reduced = prepare_frames([decode_image(_jpeg(big))]), prepare_frames([d.image])
    assert np.abs(full.astype(int) - reduced).mean() < 3.0


def test_reduced_decode_ignores_exif_orientation_too() -> None:
    img = cv2.resize(render_sign(64), (512, 256), interpolation=cv2.INTER_CUBIC)
    jpg = _with_exif_orientation(_jpeg(img), 6)  # "rotate 90 cw" tag
    # The tag is real: OpenCV's reduced reader applies it unless told not to.
    assert cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_REDUCED_COLOR_2).shape == (256, 128, 3)
    d = decode_frame(jpg)
    assert d.image.shape == (128, 256, 3) and d.native_shape == (256, 512)


def test_the_area_shrink_equals_opencv_s_uint8_area_resize_on_every_pixel() -> None:
    # prepare_frames shrinks through OpenCV's float32 area resize (faster): it must give the very
    # pixels of the uint8 one, at whole-number ratios and others, colour and grey, real and random.
    rng = np.random.default_rng(3)
    frames = belgium_frames(200) + [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for h, w in [(64, 64), (65, 301), (128, 128), (128, 192), (256, 64), (97, 1000), (719, 480)]
    ]
    frames += [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames[:20]]
    shrunk = [f for f in frames if min(f.shape[:2]) >= PREPARED_SIZE]
    assert len(shrunk) > 100
    for f in shrunk:
        want = cv2.resize(f, (PREPARED_SIZE, PREPARED_SIZE), interpolation=cv2.INTER_AREA)
        assert np.array_equal(area_shrink(f, (PREPARED_SIZE, PREPARED_SIZE)), want), f"frame of {f.shape} differs"
    prepared = prepare_frames(shrunk)
    for f, p in zip(shrunk, prepared, strict=True):
        want = cv2.resize(f, (PREPARED_SIZE, PREPARED_SIZE), interpolation=cv2.INTER_AREA)
        assert np.array_equal(p, want if want.ndim == 3 else np.repeat(want[:, :, None], 3, axis=2))


@pytest.mark.parametrize("channels", [1, 3])
def test_the_model_input_equals_a_frame_by_frame_area_resize(channels: int) -> None:
    # model_input_from_prepared shrinks a batch's copies stacked into one image, in chunks: each
    # frame's input must be the one its own uint8 INTER_AREA resize gives (150 frames: 3 chunks).
    import torch

    prepared = prepare_frames(belgium_frames(150))
    x = to_model_input(prepared, channels)
    assert x.shape == (150, channels, 28, 28) and x.dtype == torch.float32 and x.is_contiguous()
    for p, xi in zip(prepared, x, strict=True):
        small = cv2.resize(p, (28, 28), interpolation=cv2.INTER_AREA)
        if channels == 1:
            want = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)[None]
        else:
            want = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)
        assert torch.equal(xi, torch.from_numpy(want.astype(np.float32) / np.float32(255.0)))
