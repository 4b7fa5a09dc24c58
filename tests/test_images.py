"""Loading, converting, resizing and saving images, and every way that can go wrong.

Images are a few pixels (1×2 up to 64×64) so pixel values can be checked by hand and
the file runs in seconds on a shared 2-core CPU; only the bundled samples are full size.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import stlib
from stlib import StlibError
from stlib.images import SKIMAGE_SAMPLES, load_image, save_image, skimage_sample, ssim, to_numpy, to_rgb

WHITE, BLACK = (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)


def pixel(tensor: torch.Tensor, y: int, x: int) -> tuple[float, ...]:
    return tuple(round(float(v), 4) for v in tensor[0, :, y, x])


def rgb(*values: int) -> tuple[float, ...]:
    return tuple(round(v / 255, 4) for v in values)


# ----------------------------------------------------------------------- sources


def test_load_from_path_exact_pixels(rgb_png, rgb_array):
    for source in (rgb_png, str(rgb_png)):
        image = load_image(source)
        assert image.shape == (1, 3, 12, 20) and image.dtype == torch.float32
        expected = torch.from_numpy(rgb_array).permute(2, 0, 1).float().div(255).unsqueeze(0)
        assert torch.equal(image, expected)


def test_load_from_pil_and_numpy_agree(rgb_png, rgb_array):
    from_path = load_image(rgb_png)
    assert torch.equal(load_image(Image.open(rgb_png)), from_path)
    assert torch.equal(load_image(rgb_array), from_path)


def test_load_from_tensor():
    t = torch.rand(3, 5, 7, dtype=torch.float64)
    out = load_image(t)
    assert out.shape == (1, 3, 5, 7) and out.dtype == torch.float32
    torch.testing.assert_close(out[0], t.float())
    assert load_image(t, 4).shape == (1, 3, 4, 4)


def test_numpy_dtypes():
    u8 = np.array([[0, 128, 255]], dtype=np.uint8)
    assert torch.equal(load_image(u8)[0, 0, 0], torch.tensor([0, 128, 255]) / 255)
    u16 = np.array([[0, 32768, 65535]], dtype=np.uint16)
    assert torch.equal(load_image(u16)[0, 1, 0], torch.tensor([0, 128, 255]) / 255)
    f = np.array([[0.0, 0.5, 1.0, -1.0, 2.0]], dtype=np.float32)  # out of range clipped
    assert torch.equal(load_image(f)[0, 2, 0], torch.tensor([0, 128, 255, 0, 255]) / 255)
    b = np.array([[True, False]])
    assert torch.equal(load_image(b)[0, :, 0, :], torch.tensor([[1.0, 0.0]] * 3))
    i64 = np.array([[-5, 7, 300]], dtype=np.int64)
    assert torch.equal(load_image(i64)[0, 0, 0], torch.tensor([0, 7, 255]) / 255)


def test_numpy_channel_layouts():
    gray = np.array([[10, 20]], dtype=np.uint8)
    out = load_image(gray)
    assert out.shape == (1, 3, 1, 2)
    assert torch.equal(out[0, 0], out[0, 2])  # gray → three equal channels
    assert torch.equal(load_image(gray[..., None]), out)  # (H, W, 1)
    rgba = np.array([[[255, 0, 0, 0], [255, 0, 0, 255]]], dtype=np.uint8)
    out = load_image(rgba)
    assert pixel(out, 0, 0) == WHITE  # fully transparent → the white background
    assert pixel(out, 0, 1) == (1.0, 0.0, 0.0)


@pytest.mark.parametrize("shape", [(4, 4, 2), (2, 4, 4, 3), (5,), (4, 4, 5)])
def test_numpy_bad_shapes(shape, one_line):
    with pytest.raises(StlibError) as err:
        load_image(np.zeros(shape, dtype=np.uint8))
    assert str(shape) in one_line(err.value)


def test_numpy_nan_and_bad_tensor_and_bad_type(one_line):
    with pytest.raises(StlibError) as err:
        load_image(np.array([[0.1, np.nan]]))
    assert "NaN" in one_line(err.value)
    with pytest.raises(StlibError) as err:
        load_image(torch.rand(1, 4, 5, 5))
    assert "(1, 4, 5, 5)" in one_line(err.value)
    with pytest.raises(StlibError) as err:
        load_image([[0, 1], [1, 0]])
    assert "list" in one_line(err.value)


@pytest.mark.parametrize("name", SKIMAGE_SAMPLES + ("ihc",))
def test_every_bundled_sample_loads(name):
    image = load_image(name)
    array = skimage_sample(name)
    assert image.shape == (1, 3, *array.shape[:2])
    assert image.dtype == torch.float32
    assert 0.0 <= image.min().item() and image.max().item() <= 1.0
    assert image.max() > image.min()  # not blank


def test_alias_and_sample_names():
    assert torch.equal(load_image("ihc", 8), load_image("immunohistochemistry", 8))
    names = stlib.sample_names()
    assert set(SKIMAGE_SAMPLES) <= set(names) and "ihc" in names
    assert names == sorted(names)


def test_data_dir_stems(tmp_path, monkeypatch, rgb_array):
    folder = tmp_path / "mydata"
    folder.mkdir()
    Image.fromarray(rgb_array).save(folder / "starry.png")
    (folder / "notes.txt").write_text("not an image")
    monkeypatch.setenv("STLIB_DATA_DIR", str(folder))
    assert "starry" in stlib.sample_names() and "notes" not in stlib.sample_names()
    image = load_image("starry")
    assert torch.equal(image, load_image(folder / "starry.png"))
    assert image.shape == (1, 3, 12, 20)


def test_unknown_names(tmp_path, monkeypatch, one_line):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StlibError) as err:
        load_image("no_such_sample")
    message = one_line(err.value)
    assert "'no_such_sample'" in message and "sample" in message
    with pytest.raises(StlibError) as err:
        load_image("missing.png")
    message = one_line(err.value)
    assert "'missing.png'" in message and "not found" in message
    with pytest.raises(StlibError) as err:
        load_image(tmp_path / "sub" / "missing.jpg")
    assert "missing.jpg" in one_line(err.value)


# -------------------------------------------------------------- EXIF orientation


def _oriented(orientation: int) -> tuple[Image.Image, Image.Exif]:
    # 3 wide × 2 high, red in the stored top-left corner
    image = Image.new("RGB", (3, 2), (0, 0, 255))
    image.putpixel((0, 0), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return image, exif


@pytest.mark.parametrize("orientation, red_at", [(6, (0, 1)), (8, (2, 0))])
def test_exif_orientation_png(write_image, orientation, red_at):
    image, exif = _oriented(orientation)
    path = write_image("rotated.png", image, exif=exif)
    loaded = load_image(path)
    assert loaded.shape == (1, 3, 3, 2)  # portrait after rotation
    # 6: rotate 90° clockwise → stored top-left goes top-right; 8: counter-clockwise → bottom-left
    assert pixel(loaded, *red_at) == (1.0, 0.0, 0.0)
    assert load_image(Image.open(path)).shape == (1, 3, 3, 2)  # a PIL image with EXIF too


def test_exif_orientation_jpeg(write_image):
    image, exif = _oriented(6)
    path = write_image("rotated.jpg", image.resize((30, 20)), exif=exif, quality=95)
    assert load_image(path).shape == (1, 3, 30, 20)
    plain = write_image("plain.jpg", image.resize((30, 20)), quality=95)
    assert load_image(plain).shape == (1, 3, 20, 30)


# ------------------------------------------------------------------------ modes


def test_mode_L_and_1():
    gray = Image.new("L", (2, 1), 128)
    assert pixel(load_image(gray), 0, 1) == rgb(128, 128, 128)
    bw = Image.new("1", (2, 1), 0)
    bw.putpixel((1, 0), 1)
    out = load_image(bw)
    assert pixel(out, 0, 0) == BLACK and pixel(out, 0, 1) == WHITE


def _palette_image(transparent: bool) -> Image.Image:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    if transparent:
        image.info["transparency"] = 0
    return image


def test_mode_P():
    out = load_image(_palette_image(False))
    assert pixel(out, 0, 0) == (1.0, 0.0, 0.0) and pixel(out, 0, 1) == (0.0, 0.0, 1.0)


def test_mode_P_with_transparency(write_image):
    image = _palette_image(True)
    for source in (image, write_image("palette.png", image, transparency=0)):
        out = load_image(source)
        assert pixel(out, 0, 0) == WHITE  # the transparent palette entry is composited on white
        assert pixel(out, 0, 1) == (0.0, 0.0, 1.0)


def test_mode_RGBA_composited_on_white(write_image):
    image = Image.new("RGBA", (3, 1))
    image.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent black
    image.putpixel((1, 0), (0, 0, 0, 255))  # opaque black
    image.putpixel((2, 0), (0, 0, 0, 128))  # half transparent black → mid gray
    for source in (image, write_image("rgba.png", image)):
        out = load_image(source)
        assert pixel(out, 0, 0) == WHITE
        assert pixel(out, 0, 1) == BLACK
        assert out[0, :, 0, 2].tolist() == pytest.approx([127 / 255] * 3, abs=1.5 / 255)
    assert to_rgb(image, background=(0, 255, 0)).getpixel((0, 0)) == (0, 255, 0)


def test_mode_LA(write_image):
    image = Image.new("LA", (2, 1))
    image.putpixel((0, 0), (0, 0))
    image.putpixel((1, 0), (0, 255))
    for source in (image, write_image("la.png", image)):
        out = load_image(source)
        assert pixel(out, 0, 0) == WHITE and pixel(out, 0, 1) == BLACK


def test_mode_16_bit(write_image):
    image = Image.fromarray(np.array([[0, 65535, 32768, 1000]], dtype=np.uint16))
    assert image.mode == "I;16"
    for source in (image, write_image("deep.png", image)):
        out = load_image(source)
        assert out[0, 0, 0].tolist() == pytest.approx([0.0, 1.0, 128 / 255, 4 / 255])


def test_mode_I_and_F():
    small = Image.fromarray(np.array([[0, 255]], dtype=np.int32))
    assert small.mode == "I"
    assert load_image(small)[0, 0, 0].tolist() == [0.0, 1.0]
    floats = Image.fromarray(np.array([[0.0, 255.0]], dtype=np.float32))
    assert floats.mode == "F"
    assert load_image(floats)[0, 1, 0].tolist() == [0.0, 1.0]


def test_mode_CMYK(write_image):
    image = Image.new("CMYK", (2, 1), (0, 0, 0, 0))  # no ink: white
    image.putpixel((1, 0), (255, 0, 0, 0))  # full cyan
    for source in (image, write_image("print.tif", image)):
        out = load_image(source)
        assert pixel(out, 0, 0) == WHITE
        assert pixel(out, 0, 1) == (0.0, 1.0, 1.0)


# ----------------------------------------------------------------------- resizing


def test_square_resize_and_exact_size(rgb_png):
    assert load_image(rgb_png, 16).shape == (1, 3, 16, 16)  # square like the lecture's Resize
    assert load_image(rgb_png, 40).shape == (1, 3, 40, 40)  # upscaling too
    assert load_image(rgb_png, (6, 9)).shape == (1, 3, 6, 9)


def test_max_size_keeps_aspect_ratio(rgb_png):
    assert load_image(rgb_png, max_size=10).shape == (1, 3, 6, 10)  # 12×20 → 6×10
    assert load_image(rgb_png, max_size=5).shape == (1, 3, 3, 5)
    unchanged = load_image(rgb_png, max_size=100)  # never enlarged
    assert torch.equal(unchanged, load_image(rgb_png))
    tall = np.zeros((40, 8, 3), dtype=np.uint8)
    assert load_image(tall, max_size=20).shape == (1, 3, 20, 4)


def test_resize_errors(rgb_png, one_line):
    with pytest.raises(StlibError) as err:
        load_image(rgb_png, 8, max_size=8)
    one_line(err.value)
    with pytest.raises(StlibError) as err:
        load_image(rgb_png, 0)
    assert "0" in one_line(err.value)
    for bad in (0, -5):  # would otherwise silently give a 1×1 image
        with pytest.raises(StlibError) as err:
            load_image(rgb_png, max_size=bad)
        assert "max_size" in one_line(err.value) and str(bad) in str(err.value)


def test_device_argument(rgb_png):
    assert load_image(rgb_png, device="cpu").device.type == "cpu"


# ------------------------------------------------------------------------ saving


def test_save_round_trip(tmp_path):
    values = torch.arange(3 * 4 * 5, dtype=torch.float32).view(1, 3, 4, 5) * 4 / 255
    path = save_image(values, tmp_path / "sub" / "out.png")  # parent folder created
    assert path == tmp_path / "sub" / "out.png"
    assert torch.equal(load_image(path), values)
    assert torch.equal(load_image(save_image(values[0], tmp_path / "chw.png")), values)  # (3, H, W) too
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["out.png"]  # no temporary files left


def test_save_clips_out_of_range(tmp_path):
    image = torch.tensor([-0.5, 0.5, 1.5]).view(1, 3, 1, 1)
    out = load_image(save_image(image, tmp_path / "clip.png"))
    assert out[0, :, 0, 0].tolist() == pytest.approx([0.0, 128 / 255, 1.0], abs=1 / 255)


def test_save_jpeg(tmp_path):
    image = torch.full((1, 3, 8, 8), 0.5)
    out = load_image(save_image(image, tmp_path / "out.jpg"))
    assert out.shape == (1, 3, 8, 8)
    torch.testing.assert_close(out, image, atol=3 / 255, rtol=0)


def test_save_refuses_to_overwrite(tmp_path, one_line):
    path = tmp_path / "keep.png"
    save_image(torch.zeros(1, 3, 2, 2), path)
    before = path.read_bytes()
    with pytest.raises(StlibError) as err:
        save_image(torch.ones(1, 3, 2, 2), path, overwrite=False)
    assert "keep.png" in one_line(err.value)
    assert path.read_bytes() == before
    save_image(torch.ones(1, 3, 2, 2), path)  # overwrite=True is the default
    assert load_image(path).min().item() == 1.0


def test_save_unknown_suffix(tmp_path, one_line):
    with pytest.raises(StlibError) as err:
        save_image(torch.zeros(1, 3, 2, 2), tmp_path / "out.txt")
    assert "out.txt" in one_line(err.value)
    assert not (tmp_path / "out.txt").exists()


def test_to_numpy():
    t = torch.rand(1, 3, 4, 5)
    array = to_numpy(t)
    assert array.shape == (4, 5, 3)
    np.testing.assert_array_equal(array, t[0].permute(1, 2, 0).numpy())


# -------------------------------------------------------------------- bad files


def test_missing_file(tmp_path, one_line):
    with pytest.raises(StlibError) as err:
        load_image(tmp_path / "nope.png")
    assert "nope.png" in one_line(err.value)


def test_text_file_named_jpg(tmp_path, one_line):
    path = tmp_path / "notes.jpg"
    path.write_text("these are my notes, not a picture\n")
    with pytest.raises(StlibError) as err:
        load_image(path)
    message = one_line(err.value)
    assert "notes.jpg" in message and "not an image" in message


def _noise(size: int = 64) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file(tmp_path, suffix, one_line):
    path = tmp_path / f"cut{suffix}"
    _noise().save(path)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(StlibError) as err:
        load_image(path)
    message = one_line(err.value)
    assert f"cut{suffix}" in message and "truncated" in message


def test_empty_file(tmp_path, one_line):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(StlibError) as err:
        load_image(path)
    assert "empty.png" in one_line(err.value)


def test_too_many_pixels(tmp_path, monkeypatch, one_line):
    path = tmp_path / "big.png"
    _noise(8).save(path)
    monkeypatch.setattr(stlib.images, "MAX_PIXELS", 63)
    with pytest.raises(StlibError) as err:
        load_image(path)
    assert "big.png" in one_line(err.value) and "too large" in str(err.value)


# SSIM: two flat images have no contrast and no structure, so SSIM is only the luminance term
# (2ab + C1) / (a² + b² + C1) with C1 = (0.01 · data range)²: 0.2 vs 0.6 → 0.2401 / 0.4001.
def test_ssim_of_flat_images_by_hand():
    a, b = torch.full((1, 3, 8, 8), 0.2), torch.full((1, 3, 8, 8), 0.6)
    assert ssim(a, b) == pytest.approx(0.2401 / 0.4001, rel=1e-6)
    assert ssim(a, a) == pytest.approx(1.0)


def test_ssim_ranks_a_copy_a_brightened_copy_and_noise():
    cat = load_image("chelsea", 32)
    noise = torch.rand(cat.shape, generator=torch.Generator().manual_seed(0))
    brighter = (cat + 0.1).clamp(0, 1)
    assert ssim(cat, cat) == pytest.approx(1.0)
    assert 0.8 < ssim(brighter, cat) < 1.0          # same structure, other brightness: close
    assert abs(ssim(noise, cat)) < 0.1              # unrelated
    assert ssim(brighter, cat) == pytest.approx(ssim(cat, brighter))  # symmetric


def test_ssim_bad_input(one_line):
    with pytest.raises(StlibError) as err:
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    assert "different shapes" in one_line(err.value)
    with pytest.raises(StlibError) as err:
        ssim(torch.zeros(1, 3, 6, 6), torch.zeros(1, 3, 6, 6))
    assert "at least 7" in one_line(err.value)


@pytest.fixture
def umask():
    """``umask(mask)`` sets the process's umask for this test; the old one comes back afterwards."""
    import os

    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_output_gets_the_umask_permissions(tmp_path, umask, mask, mode):
    import stat

    umask(mask)
    path = save_image(torch.zeros(1, 3, 2, 2), tmp_path / "out.png")
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_replaced_output_keeps_its_permissions(tmp_path, umask):
    import os
    import stat

    umask(0o022)
    path = save_image(torch.zeros(1, 3, 2, 2), tmp_path / "out.png")
    os.chmod(path, 0o640)
    save_image(torch.ones(1, 3, 2, 2), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert load_image(path).min().item() == 1.0


def test_crash_mid_write_leaves_no_partial_file(tmp_path, monkeypatch, one_line):
    from PIL import Image

    def half_then_crash(self, fp, *args, **kwargs):
        with open(fp, "wb") as fh:
            fh.write(b"\x89PNG\r\n\x1a\n half a picture")
        raise OSError(28, "No space left on device")

    path = tmp_path / "out.png"
    monkeypatch.setattr(Image.Image, "save", half_then_crash)
    with pytest.raises(StlibError) as err:
        save_image(torch.zeros(1, 3, 2, 2), path)
    assert "out.png" in one_line(err.value)
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temporary file
    monkeypatch.undo()
    save_image(torch.zeros(1, 3, 2, 2), path)
    before = path.read_bytes()
    monkeypatch.setattr(Image.Image, "save", half_then_crash)
    with pytest.raises(StlibError):
        save_image(torch.ones(1, 3, 2, 2), path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_the_shipped_paintings_load_by_name_within_the_size_limits(monkeypatch):
    """data/ ships three paintings (≤ 1024 px, ≤ 300 kB each): sample names like scikit-image's."""
    monkeypatch.delenv("STLIB_DATA_DIR", raising=False)
    from stlib import images

    files = images.data_images()
    for name in images.PAINTINGS:
        assert name in images.sample_names()
        assert files[name].stat().st_size <= 300_000, name
        with Image.open(files[name]) as picture:
            assert max(picture.size) <= 1024 and picture.mode == "RGB", name
        assert images.load_image(name, 32).shape == (1, 3, 32, 32)


def test_loaded_images_are_contiguous_so_an_lbfgs_image_can_be_stepped():
    image = load_image("chelsea", 32).clone().requires_grad_(True)
    assert image.is_contiguous()
    lbfgs = torch.optim.LBFGS([image], max_iter=2)

    def closure():
        lbfgs.zero_grad()
        loss = (image**2).sum()
        loss.backward()
        return loss

    lbfgs.step(closure)  # raised "view size is not compatible" when the image kept NumPy's HWC strides
