#!/usr/bin/env python3
"""Image decoding corpus for DxImaging's tests (Tests/TestData/images).

Small files (37 x 29 and friends: odd sizes exercise partial tiles and strips) in every TIFF,
PNG and JPEG variant EfficientDx reads, written by independent writers (tifffile with
imagecodecs, pypng, Pillow), and `expected.safetensors` with the pixels each must decode to
(F32 holding the integer sample values). Developer tooling only; CI never runs it:
    apt-get install libtiff-tools; /tmp/refvenv/bin/pip install tifffile imagecodecs pypng pillow safetensors numpy
    /tmp/refvenv/bin/python Scripts/dev/make_image_corpus.py Tests/TestData/images
"""
import io, os, subprocess, sys
import numpy as np
import png, tifffile
from PIL import Image
from safetensors.numpy import save_file

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/TestData/images"
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
H, W = 29, 37
expected = {}


def smooth(shape, dtype):
    """Gradients plus noise: compressible, and every sample differs somewhere."""
    top = np.iinfo(dtype).max
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    base = (xx * 7 + yy * 13)[..., None] * (top // 600) if len(shape) == 3 else (xx * 7 + yy * 13) * (top // 600)
    noise = rng.integers(0, top // 8, size=shape)
    return np.clip(base + noise, 0, top).astype(dtype)


def tif(name, data, expect=None, **kw):
    tifffile.imwrite(f"{out}/{name}", data, **kw)
    expected[name] = (data if expect is None else expect).astype(np.float32)


rgb8, rgb16 = smooth((H, W, 3), np.uint8), smooth((H, W, 3), np.uint16)
gray8, gray16 = smooth((H, W), np.uint8), smooth((H, W), np.uint16)
rgba8 = np.dstack([rgb8, smooth((H, W), np.uint8)])
ga8 = np.dstack([gray8, smooth((H, W), np.uint8)])

tif("gray8_strips_none.tif", gray8, rowsperstrip=8, photometric="minisblack")
tif("gray16_strips_lzw.tif", gray16, rowsperstrip=5, compression="lzw", photometric="minisblack")
tif("rgb8_tiles_deflate.tif", rgb8, tile=(16, 16), compression="zlib", photometric="rgb")
tif("rgb16_tiles_zstd.tif", rgb16, tile=(16, 16), compression="zstd", photometric="rgb")
tif("rgba8_strips_packbits.tif", rgba8, compression="packbits", photometric="rgb", extrasamples=["unassalpha"])
tif("graya8_strips_lzw.tif", ga8, compression="lzw", photometric="minisblack", extrasamples=["unassalpha"])
tif("rgb8_planar_lzw_predictor.tif", rgb8.transpose(2, 0, 1), expect=rgb8, planarconfig="separate", photometric="rgb",
    compression="lzw", predictor=True, rowsperstrip=7)
tif("rgb16_planar_tiles_deflate_predictor.tif", rgb16.transpose(2, 0, 1), expect=rgb16, planarconfig="separate",
    photometric="rgb", tile=(16, 16), compression="zlib", predictor=True)
tif("rgb8_bigtiff_tiles.tif", rgb8, bigtiff=True, tile=(16, 32), photometric="rgb")
tif("rgb8_tiles_webp_lossless.tif", rgb8, tile=(16, 16), compression="webp", compressionargs={"lossless": True}, photometric="rgb")
tif("miniswhite8.tif", 255 - gray8, expect=gray8, photometric="miniswhite")
# Palette: 8-bit indices into a 16-bit colormap (values v * 257, as most writers store them).
palette = rng.integers(0, 256, size=(3, 256)).astype(np.uint16)
indices = rng.integers(0, 256, size=(H, W)).astype(np.uint8)
tif("palette8.tif", indices, expect=palette[:, indices].transpose(1, 2, 0), photometric="palette", colormap=palette * 257)
# Bilevel 1-bit: decoded to 8-bit gray (0 or 255).
bits = rng.integers(0, 2, size=(H, W)).astype(bool)
tif("bilevel1.tif", bits, expect=bits.astype(np.uint8) * 255, photometric="minisblack")
# Lossy: JPEG in YCbCr (the whole-slide layout) and in RGB; compared with a tolerance.
# (YCbCr-JPEG is written by libtiff's own tiffcp: tifffile's YCbCr-JPEG output does not round-trip.)
tifffile.imwrite("/tmp/effdx_rgb8_plain.tif", rgb8, photometric="rgb")
subprocess.run(["tiffcp", "-c", "jpeg:95", "-t", "-w", "16", "-l", "16", "/tmp/effdx_rgb8_plain.tif", f"{out}/rgb8_tiles_jpeg_ycbcr.tif"], check=True)
expected["rgb8_tiles_jpeg_ycbcr.tif"] = rgb8.astype(np.float32)
tif("rgb8_tiles_jpeg_rgb.tif", rgb8, tile=(16, 16), compression="jpeg", compressionargs={"level": 95}, photometric="rgb")

# Multi-page, and a SubIFD pyramid with resolution tags (0.5 um/px at level 0).
big = smooth((64, 96, 3), np.uint8)
with tifffile.TiffWriter(f"{out}/multipage.tif") as t:
    t.write(rgb8, photometric="rgb")
    t.write(gray16, photometric="minisblack")
    t.write(big, photometric="rgb", tile=(16, 16), compression="zlib")
expected["multipage.tif#0"], expected["multipage.tif#1"], expected["multipage.tif#2"] = rgb8.astype(np.float32), gray16.astype(np.float32), big.astype(np.float32)
levels = [big, big[::2, ::2].copy(), big[::4, ::4].copy()]
with tifffile.TiffWriter(f"{out}/pyramid_subifds.tif") as t:
    for i, level in enumerate(levels):
        t.write(level, photometric="rgb", tile=(16, 16), compression="zlib", subifds=2 if i == 0 else None,
                subfiletype=1 if i else 0, resolution=(1e4 / (0.5 * 2**i), 1e4 / (0.5 * 2**i)), resolutionunit="CENTIMETER")
for i, level in enumerate(levels):
    expected[f"pyramid_subifds.tif#{i}"] = level.astype(np.float32)

# PNG, written by pypng: every colour type and bit depth, tRNS palette, Adam7.
def png_write(name, rows, expect, **kw):
    with open(f"{out}/{name}", "wb") as f:
        png.Writer(**kw).write(f, rows)
    expected[name] = expect.astype(np.float32)

for bd in (1, 2, 4, 8, 16):
    g = rng.integers(0, 2**bd, size=(H, W))
    # Low bit depths expand to 8 bits by bit replication (libpng): v * 255 / (2^bd - 1).
    png_write(f"gray{bd}.png", g.tolist(), g * 255 // (2**bd - 1) if bd < 8 else g, width=W, height=H, greyscale=True, bitdepth=bd)
png_write("gray16_adam7.png", gray16.tolist(), gray16, width=W, height=H, greyscale=True, bitdepth=16, interlace=True)
png_write("graya8.png", ga8.reshape(H, -1).tolist(), ga8, width=W, height=H, greyscale=True, alpha=True, bitdepth=8)
png_write("rgb8.png", rgb8.reshape(H, -1).tolist(), rgb8, width=W, height=H, greyscale=False, bitdepth=8)
png_write("rgb16_adam7.png", rgb16.reshape(H, -1).tolist(), rgb16, width=W, height=H, greyscale=False, bitdepth=16, interlace=True)
png_write("rgba16.png", np.dstack([rgb16, gray16]).reshape(H, -1).tolist(), np.dstack([rgb16, gray16]), width=W, height=H,
          greyscale=False, alpha=True, bitdepth=16)
pal = [tuple(int(v) for v in rng.integers(0, 256, 3)) + (int(a),) for a in rng.integers(0, 256, 16)]
idx = rng.integers(0, 16, size=(H, W))
png_write("palette4_trns.png", idx.tolist(), np.array(pal)[idx], width=W, height=H, palette=pal, bitdepth=4)

# JPEG, written by Pillow: RGB, gray, and a portrait photo with EXIF orientation 6.
Image.fromarray(rgb8).save(f"{out}/rgb.jpg", quality=92)
expected["rgb.jpg"] = np.asarray(Image.open(f"{out}/rgb.jpg")).astype(np.float32)
Image.fromarray(gray8).save(f"{out}/gray.jpg", quality=92)
expected["gray.jpg"] = np.asarray(Image.open(f"{out}/gray.jpg")).astype(np.float32)
exif = Image.Exif()
exif[0x0112] = 6  # rotate 90 degrees clockwise to display
Image.fromarray(rgb8).save(f"{out}/orientation6.jpg", quality=92, exif=exif)
stored = np.asarray(Image.open(f"{out}/orientation6.jpg"))
expected["orientation6.jpg"] = np.rot90(stored, k=-1).astype(np.float32)  # clockwise

# Resizing, as Pillow does it (8-bit fixed point, so within 1 of an exact computation).
for name, f in (("area", Image.BOX), ("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)):
    for size in ((20, 15), (50, 40), (37, 10)):
        expected[f"resize:{name}:{size[0]}x{size[1]}"] = np.asarray(Image.fromarray(rgb8).resize(size, f)).astype(np.float32)
expected["resize:source"] = rgb8.astype(np.float32)

# The remaining PNG colour types and depths (appended last, so the files above keep their bytes):
# 16-bit gray+alpha, 8-bit RGBA, palettes of 1, 2 and 8 bits without tRNS, 8 bits with tRNS.
ga16 = np.dstack([gray16, smooth((H, W), np.uint16)])
png_write("graya16.png", ga16.reshape(H, -1).tolist(), ga16, width=W, height=H, greyscale=True, alpha=True, bitdepth=16)
png_write("rgba8.png", rgba8.reshape(H, -1).tolist(), rgba8, width=W, height=H, greyscale=False, alpha=True, bitdepth=8)
for bd in (1, 2, 8):
    colours = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(2**bd)]
    idx = rng.integers(0, 2**bd, size=(H, W))
    png_write(f"palette{bd}.png", idx.tolist(), np.array(colours)[idx], width=W, height=H, palette=colours, bitdepth=bd)
pal8 = [tuple(int(v) for v in rng.integers(0, 256, 3)) + (int(a),) for a in rng.integers(0, 256, 256)]
idx = rng.integers(0, 256, size=(H, W))
png_write("palette8_trns.png", idx.tolist(), np.array(pal8)[idx], width=W, height=H, palette=pal8, bitdepth=8)

save_file({k: np.ascontiguousarray(v) for k, v in expected.items()}, f"{out}/expected.safetensors")
total = sum(os.path.getsize(f"{out}/{f}") for f in os.listdir(out))
print(len(os.listdir(out)), "files,", total, "bytes")
