"""lrrsa.images: every Pillow mode decodes to the right RGB uint8 values; broken files name themselves.

Each test writes a file with known pixel values and computes the expected RGB
in closed form, independently of the decoder. Images are square and decoded at
their own size, where the bicubic resize is the identity, so values are exact.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from lrrsa.data.training_images import ImageFolderError, read_image_folder
from lrrsa.images import ALPHA_BACKGROUND, ImageDecodeError, decode_image, load_image, load_images

RNG = np.random.default_rng(0)


def save(path, img: Image.Image, **kwargs):
    img.save(path, **kwargs)
    return path


def decoded(path) -> np.ndarray:
    """The image through the public path, at its own (square) size."""
    with Image.open(path) as img:
        side = img.width
    return load_image(path, side)


def grey_rgb(grey) -> np.ndarray:
    return np.repeat(np.asarray(grey)[..., None], 3, axis=-1)


def nearest_level(numerator, denominator) -> np.ndarray:
    """round(numerator / denominator) in integer arithmetic (ties cannot occur here)."""
    numerator = np.asarray(numerator, dtype=object)
    return ((2 * numerator + denominator) // (2 * denominator)).astype(np.int64)


def over(colour, alpha, background) -> np.ndarray:
    """Straight-alpha compositing: a/255*c + (1 - a/255)*b, as floats."""
    a = np.asarray(alpha, dtype=float)[..., None] / 255
    return a * np.asarray(colour, dtype=float) + (1 - a) * np.asarray(background, dtype=float)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG written by hand, for what Pillow cannot write (16-bit RGB, zero size)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


# ------------------------------------------------------------------ high bit depths

def test_sixteen_bit_grey_ramp_png_is_scaled_not_clipped(tmp_path):
    ramp = np.arange(65536, dtype=np.uint16).reshape(256, 256)  # every 16-bit value once
    path = save(tmp_path / "ramp16.png", Image.fromarray(ramp))
    assert Image.open(path).mode == "I;16"
    out = decoded(path)
    assert out.dtype == np.uint8 and out.shape == (256, 256, 3)
    np.testing.assert_array_equal(out, grey_rgb(nearest_level(ramp, 257)))


@pytest.mark.parametrize("kind", ["I;16B tiff", "I tiff", "16-bit pgm"])
def test_other_sixteen_bit_greys(tmp_path, kind):
    values = np.array([[0, 1, 128, 255], [256, 257, 1000, 32767],
                       [32768, 40000, 65279, 65280], [65534, 65535, 12345, 54321]])
    if kind == "I;16B tiff":
        img = Image.frombytes("I;16B", (4, 4), values.astype(">u2").tobytes())
        path = save(tmp_path / "big_endian.tif", img)
    elif kind == "I tiff":
        path = save(tmp_path / "int32_in_16bit_range.tif", Image.fromarray(values.astype(np.int32)))
    else:
        path = tmp_path / "grey.pgm"
        path.write_bytes(b"P5\n4 4\n65535\n" + values.astype(">u2").tobytes())
    assert Image.open(path).mode == {"I;16B tiff": "I;16B", "I tiff": "I", "16-bit pgm": "I"}[kind]
    np.testing.assert_array_equal(decoded(path), grey_rgb(nearest_level(values, 257)))


def test_thirty_two_bit_integer_grey_is_scaled_by_int32_range(tmp_path):
    top = 2**31 - 1
    values = np.array([[0, 65536], [2**24 + 7, top]], dtype=np.int32)
    path = save(tmp_path / "int32.tif", Image.fromarray(values))
    expected = nearest_level(values.astype(np.int64) * 255, top)
    np.testing.assert_array_equal(decoded(path), grey_rgb(expected))
    assert expected.tolist() == [[0, 0], [2, 255]]


def test_float_grey_is_read_as_zero_to_one(tmp_path):
    values = np.array([[0.0, 0.1], [0.77, 1.0]], dtype=np.float32)
    path = save(tmp_path / "float.tif", Image.fromarray(values))
    expected = np.floor(values.astype(np.float64) * 255 + 0.5).astype(int)  # [[0, 26], [196, 255]]
    np.testing.assert_array_equal(decoded(path), grey_rgb(expected))


@pytest.mark.parametrize("values, problem", [
    (np.array([[0.0, 2.0], [0.5, 1.0]], np.float32), "outside"),
    (np.array([[0.0, np.nan], [0.5, 1.0]], np.float32), "outside"),
    (np.array([[0, -5], [7, 70000]], np.int32), "negative"),
])
def test_greys_without_a_brightness_scale_are_refused(tmp_path, values, problem):
    path = save(tmp_path / "unscaled.tif", Image.fromarray(values))
    with pytest.raises(ImageDecodeError, match=problem) as info:
        decode_image(path)
    assert str(path) in str(info.value)


def test_sixteen_bit_grey_with_transparent_value(tmp_path):
    values = np.array([[0, 1000], [40000, 65535]], dtype=np.uint16)
    path = save(tmp_path / "trns16.png", Image.fromarray(values), transparency=1000)
    expected = grey_rgb(nearest_level(values, 257))
    expected[0, 1] = ALPHA_BACKGROUND
    np.testing.assert_array_equal(decoded(path), expected)


def test_sixteen_bit_rgb_png_is_within_one_level(tmp_path):
    # Pillow has no 16-bit colour mode: it keeps the high byte, documented as within one level.
    values = np.array([[[0, 255, 383], [32767, 33023, 65535]],
                       [[1000, 20000, 65280], [128, 257, 65534]]], dtype=np.int64)
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in values)
    path = tmp_path / "rgb16.png"
    path.write_bytes(raw_png(2, 2, 16, 2, rows))
    difference = decoded(path).astype(int) - nearest_level(values, 257)
    assert np.abs(difference).max() <= 1


# ----------------------------------------------------------------- 8-bit modes

def test_one_bit_is_black_and_white(tmp_path):
    bits = np.indices((6, 6)).sum(axis=0) % 2 == 0
    path = save(tmp_path / "bits.png", Image.fromarray(bits))
    assert Image.open(path).mode == "1"
    np.testing.assert_array_equal(decoded(path), grey_rgb(np.where(bits, 255, 0)))


def test_grey_is_copied_to_three_channels(tmp_path):
    grey = RNG.integers(0, 256, (5, 5), dtype=np.uint8)
    path = save(tmp_path / "grey.png", Image.fromarray(grey))
    np.testing.assert_array_equal(decoded(path), grey_rgb(grey))


def palette_image(indices: np.ndarray, palette: np.ndarray) -> Image.Image:
    img = Image.fromarray(indices.astype(np.uint8), "P")
    img.putpalette(palette.astype(np.uint8).ravel().tolist())
    return img


def test_palette_decodes_to_its_colours(tmp_path):
    palette = RNG.integers(0, 256, (16, 3))
    indices = RNG.integers(0, 16, (6, 6))
    path = save(tmp_path / "palette.png", palette_image(indices, palette))
    assert Image.open(path).mode == "P"
    np.testing.assert_array_equal(decoded(path), palette[indices])


def test_palette_with_per_index_alpha(tmp_path):
    palette = RNG.integers(0, 256, (4, 3))
    alphas = np.array([255, 0, 128, 37])
    indices = np.array([[0, 1, 2, 3]] * 4)
    path = save(tmp_path / "palette_alpha.png", palette_image(indices, palette),
                transparency=bytes(alphas.tolist()))
    expected = over(palette[indices], alphas[indices], ALPHA_BACKGROUND)
    assert np.abs(decoded(path) - expected).max() <= 0.5 + 1e-9


def test_palette_plus_alpha_band(tmp_path):
    palette = RNG.integers(0, 256, (4, 3))
    indices = RNG.integers(0, 4, (4, 4))
    alpha = RNG.integers(0, 256, (4, 4))
    img = Image.merge("PA", [palette_image(indices, palette), Image.fromarray(alpha.astype(np.uint8))])
    img.putpalette(palette.astype(np.uint8).ravel().tolist())
    path = save(tmp_path / "pa.tif", img)
    assert Image.open(path).mode == "PA"
    assert np.abs(decoded(path) - over(palette[indices], alpha, ALPHA_BACKGROUND)).max() <= 0.5 + 1e-9


def test_grey_and_rgb_with_a_transparent_colour(tmp_path):
    grey = np.array([[0, 100], [200, 100]], dtype=np.uint8)
    path = save(tmp_path / "grey_trns.png", Image.fromarray(grey), transparency=100)
    np.testing.assert_array_equal(decoded(path), grey_rgb([[0, 128], [200, 128]]))
    rgb = np.array([[[1, 2, 3], [4, 5, 6]], [[4, 5, 6], [9, 9, 9]]], dtype=np.uint8)
    path = save(tmp_path / "rgb_trns.png", Image.fromarray(rgb), transparency=(4, 5, 6))
    np.testing.assert_array_equal(decoded(path), [[[1, 2, 3], [128] * 3], [[128] * 3, [9, 9, 9]]])


@pytest.mark.parametrize("background", [ALPHA_BACKGROUND, 255, (0, 64, 255)])
def test_rgba_is_composited_over_the_background(tmp_path, background):
    rgba = RNG.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    rgba[0, :4, 3] = (0, 255, 1, 254)  # fully transparent, opaque and nearly either
    path = save(tmp_path / "rgba.png", Image.fromarray(rgba))
    out = load_image(path, 8, background=background)
    assert np.abs(out - over(rgba[..., :3], rgba[..., 3], background)).max() <= 0.5 + 1e-9
    np.testing.assert_array_equal(out[0, 0], np.broadcast_to(background, 3))
    np.testing.assert_array_equal(out[0, 1], rgba[0, 1, :3])


def test_default_background_is_mid_grey():
    assert ALPHA_BACKGROUND == 128


def test_grey_with_alpha(tmp_path):
    la = RNG.integers(0, 256, (6, 6, 2), dtype=np.uint8)
    path = save(tmp_path / "la.png", Image.fromarray(la, "LA"))
    expected = over(grey_rgb(la[..., 0]), la[..., 1], ALPHA_BACKGROUND)
    assert np.abs(decoded(path) - expected).max() <= 0.5 + 1e-9


def test_premultiplied_alpha_tiff(tmp_path):
    # TIFF ExtraSamples=1 (associated alpha): Pillow opens grey+alpha as "La",
    # whose stored grey already is a*c, so the result is c_stored + (1 - a)*b.
    la = np.array([[[50, 128], [0, 0]], [[255, 255], [10, 20]]], dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(la, "LA").save(buf, format="TIFF")
    unassociated, associated = (struct.pack("<HHIH", 338, 3, 1, v) for v in (2, 1))
    assert buf.getvalue().count(unassociated) == 1
    path = tmp_path / "premultiplied.tif"
    path.write_bytes(buf.getvalue().replace(unassociated, associated))
    assert Image.open(path).mode == "La"
    expected = la[..., 0] + (1 - la[..., 1] / 255) * ALPHA_BACKGROUND
    np.testing.assert_array_equal(decoded(path), grey_rgb(np.floor(expected + 0.5)))


def test_cmyk_tiff(tmp_path):
    # Device CMYK without colour management: each of C, M, Y and K scales the light
    # multiplicatively, RGB = 255 (1 - c/255)(1 - k/255); Pillow 13's own conversion agrees.
    cmyk = np.array([[[0, 0, 0, 0], [255, 0, 0, 0]], [[100, 50, 20, 128], [30, 200, 255, 255]]],
                    dtype=np.uint8)
    path = save(tmp_path / "cmyk.tif", Image.fromarray(cmyk, "CMYK"))
    assert Image.open(path).mode == "CMYK"
    expected = nearest_level((255 - cmyk[..., :3].astype(int)) * (255 - cmyk[..., 3:].astype(int)), 255)
    np.testing.assert_array_equal(decoded(path), expected)
    assert expected[1, 0].tolist() == [77, 102, 117]


def test_cmyk_jpeg_is_not_inverted(tmp_path):
    # CMYK JPEGs store inverted inks (Adobe); a decoder that missed it would turn white to black.
    cmyk = np.zeros((16, 16, 4), np.uint8)
    cmyk[:, 8:] = (0, 255, 255, 0)  # red
    path = save(tmp_path / "cmyk.jpg", Image.fromarray(cmyk, "CMYK"), quality=100)
    out = decoded(path).astype(int)
    assert np.abs(out[:, :4] - 255).max() <= 3
    assert np.abs(out[:, 12:] - (255, 0, 0)).max() <= 3


def test_ycbcr_tiff_uses_jfif_equations(tmp_path):
    ycbcr = np.array([[[128, 128, 128], [255, 128, 128]], [[76, 85, 255], [100, 200, 50]]], dtype=np.uint8)
    path = save(tmp_path / "ycbcr.tif", Image.fromarray(ycbcr, "YCbCr"))
    assert Image.open(path).mode == "YCbCr"
    y, cb, cr = np.moveaxis(ycbcr.astype(float), -1, 0)
    jfif = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                     y + 1.772 * (cb - 128)], axis=-1)
    np.testing.assert_array_equal(decoded(path), np.clip(np.floor(jfif + 0.5), 0, 255))
    assert decoded(path)[1, 0].tolist() == [254, 0, 0]  # the YCbCr of pure red


def test_exif_orientation_is_applied(tmp_path):
    # Orientation 6: the stored image must be turned 90 degrees clockwise for display.
    blocks = np.array([[0, 80], [160, 240], [40, 200]], dtype=np.uint8)  # 3 x 2 blocks of 16 px
    stored = np.kron(blocks, np.ones((16, 16), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(tmp_path / "rotated.jpg", Image.fromarray(stored).convert("RGB"), exif=exif, quality=100)
    out = decode_image(path)
    shown = np.rot90(stored, k=-1)
    assert out.shape == (*shown.shape, 3)
    assert np.abs(out.astype(int) - grey_rgb(shown)).max() <= 4  # JPEG is lossy


# -------------------------------------------------------- resize and callers

@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_rgb_images_resize_as_before(tmp_path, fmt):
    rgb = RNG.integers(0, 256, (37, 50, 3), dtype=np.uint8)
    path = save(tmp_path / f"photo.{fmt}", Image.fromarray(rgb))
    before = np.array(Image.open(path).convert("RGB").resize((24, 24), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(load_image(path, 24), before)
    stack = load_images([path, path], 24)
    assert stack.shape == (2, 24, 24, 3) and stack.dtype == np.uint8
    assert load_image(path, 24).flags.writeable and decode_image(path).flags.writeable


def test_decode_accepts_bytes_and_file_objects(tmp_path):
    rgb = RNG.integers(0, 256, (3, 5, 3), dtype=np.uint8)
    path = save(tmp_path / "small.png", Image.fromarray(rgb))
    np.testing.assert_array_equal(decode_image(path.read_bytes(), "small.png"), rgb)
    with open(path, "rb") as f:
        np.testing.assert_array_equal(decode_image(f), rgb)


def test_training_images_use_the_same_decoder(tmp_path):
    ramp = (np.arange(16, dtype=np.uint16) * 4369).reshape(4, 4)  # 0..65535
    rgba = RNG.integers(0, 256, (4, 4, 4), dtype=np.uint8)
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "train" / "b").mkdir(parents=True)
    Image.fromarray(ramp).save(tmp_path / "train" / "a" / "ramp.png")
    Image.fromarray(rgba).save(tmp_path / "train" / "b" / "rgba.png")
    out = read_image_folder(tmp_path, "train")
    np.testing.assert_array_equal(out.images[0], grey_rgb(nearest_level(ramp, 257)))
    assert np.abs(out.images[1] - over(rgba[..., :3], rgba[..., 3], ALPHA_BACKGROUND)).max() <= 0.5 + 1e-9
    (tmp_path / "train" / "b" / "broken.png").write_bytes(ramp_png_bytes(ramp)[:60])
    with pytest.raises(ImageFolderError, match="train/b/broken.png"):
        read_image_folder(tmp_path, "train")


def ramp_png_bytes(values: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------- broken files

def half_of(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def broken_file(tmp_path, kind):
    noise = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    if kind == "truncated png":
        return half_of(save(tmp_path / "cut.png", Image.fromarray(noise)))
    if kind == "truncated jpeg":
        return half_of(save(tmp_path / "cut.jpg", Image.fromarray(noise), quality=90))
    path = tmp_path / {"text as jpeg": "notes.jpg", "empty file": "empty.jpg", "zero size": "flat.png"}[kind]
    if kind == "text as jpeg":
        path.write_text("this is not an image\n")
    elif kind == "empty file":
        path.write_bytes(b"")
    else:
        path.write_bytes(raw_png(0, 4, 8, 0, b""))
    return path


@pytest.mark.parametrize("kind, cause", [
    ("truncated png", "truncated"), ("truncated jpeg", "truncated"),
    ("text as jpeg", "not an image"), ("empty file", "empty"), ("zero size", "not an image"),
])
def test_broken_files_raise_naming_the_file(tmp_path, kind, cause):
    path = broken_file(tmp_path, kind)
    for call in (lambda: decode_image(path), lambda: load_image(path, 8), lambda: load_images([path], 8)):
        with pytest.raises(ImageDecodeError, match=cause) as info:
            call()
        assert str(path) in str(info.value)
        assert isinstance(info.value, ValueError)
    with pytest.raises(ImageDecodeError, match=f"member/{path.name}"):
        decode_image(path.read_bytes(), f"member/{path.name}")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # truncation is detected, not tolerated


def test_missing_file_is_not_a_decode_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        decode_image(tmp_path / "absent.png")
