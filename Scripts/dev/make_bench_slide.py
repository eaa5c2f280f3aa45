#!/usr/bin/env python3
"""A synthetic whole-slide image for the slide benchmark (`Scripts/bench-compare --mode slide`):
a SIZE x SIZE RGB pyramidal TIFF, 256 x 256 tiles, JPEG quality 85 stored as YCbCr 4:2:0 (as
scanners write it), levels at downsample 1, 4, 16 and 64 as pages of decreasing size (level 0
first; the reduced ones with NewSubfileType 1), 0.5 microns per pixel in the resolution tags
(centimetre, 20,000 px/cm) and an ImageDescription. Pink and purple textured tissue blobs cover
about half of the area, near-white background the rest. Tiles are written from a generator;
only level 1 (SIZE/4 squared, 75 MB at 20,000) is held. About a minute at 20,000 on one core.

Venv: see Scripts/bench-compare (tifffile, imagecodecs and numpy are enough here).
    /tmp/refvenv/bin/python Scripts/dev/make_bench_slide.py OUT.tif [--size 20000] [--seed 0]
"""
import argparse, math, time
import numpy as np
import tifffile

p = argparse.ArgumentParser()
p.add_argument("out"); p.add_argument("--size", type=int, default=20000); p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
S, T, CELL = a.size, 256, 64  # image side, tile side, pixels per cell of the tissue field
rng = np.random.default_rng(a.seed)
t0 = time.perf_counter()

# Tissue field at 1/64 scale: a sum of elliptical Gaussian blobs, thresholded at its median so
# that about half of the slide is tissue.
n = math.ceil(S / CELL) + 2
yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
field = np.zeros((n, n), np.float32)
for _ in range(40):
    cy, cx = rng.uniform(0, n, 2); sy, sx = rng.uniform(n / 30, n / 9, 2)
    field += rng.uniform(0.5, 1.0) * np.exp(-((yy - cy) / sy) ** 2 - ((xx - cx) / sx) ** 2)
field += 0.08 * rng.standard_normal((n, n)).astype(np.float32)  # ragged edges
threshold = float(np.median(field[: S // CELL, : S // CELL]))


def blur(x, k):
    """Box blur along both axes (k odd), cheap smoothing for the textures."""
    ker = np.ones(k, np.float32) / k
    x = np.apply_along_axis(lambda r: np.convolve(r, ker, "same"), 0, x)
    return np.apply_along_axis(lambda r: np.convolve(r, ker, "same"), 1, x)


def tissue_texture():
    """256 x 256 of H&E-like texture: eosin-pink stroma with purple nuclei."""
    stroma = blur(rng.standard_normal((T, T)).astype(np.float32), 5) * 3
    img = np.empty((T, T, 3), np.float32)
    img[...] = (232, 160, 200)
    img += stroma[..., None] * (10, 18, 10) + rng.normal(0, 4, (T, T, 3))
    nuc = np.zeros((T, T), np.float32)
    for cy, cx, r in zip(rng.integers(0, T, 90), rng.integers(0, T, 90), rng.uniform(2.5, 5.5, 90)):
        y0, y1, x0, x1 = max(0, int(cy - r)), min(T, int(cy + r) + 1), max(0, int(cx - r)), min(T, int(cx + r) + 1)
        d = ((np.arange(y0, y1)[:, None] - cy) ** 2 + (np.arange(x0, x1)[None] - cx) ** 2) / r ** 2
        nuc[y0:y1, x0:x1] = np.maximum(nuc[y0:y1, x0:x1], np.clip(1.5 - d, 0, 1))
    img = img * (1 - nuc[..., None]) + np.array((110, 60, 150), np.float32) * nuc[..., None]
    return np.clip(img, 0, 255)


textures = [tissue_texture() for _ in range(12)]
backgrounds = [np.clip(rng.normal(241, 2.5, (T, T, 3)), 0, 255).astype(np.float32) for _ in range(4)]


def interp(coords):
    """Rows of linear-interpolation weights from pixel coordinates to field cells."""
    f = coords / CELL - 0.5
    i0 = np.floor(f).astype(int); w = f - i0
    return i0, w


cols = math.ceil(S / T)
level1 = np.zeros((math.ceil(S / 4), math.ceil(S / 4), 3), np.uint8)
tissue_area = [0, 0]


def tiles():
    for ty in range(cols):
        iy, wy = interp(np.arange(ty * T, ty * T + T, dtype=np.float32))
        for tx in range(cols):
            ix, wx = interp(np.arange(tx * T, tx * T + T, dtype=np.float32))
            iyc, ixc = np.clip(iy, 0, n - 2), np.clip(ix, 0, n - 2)
            f00 = field[iyc[:, None], ixc[None]]; f01 = field[iyc[:, None], ixc[None] + 1]
            f10 = field[iyc[:, None] + 1, ixc[None]]; f11 = field[iyc[:, None] + 1, ixc[None] + 1]
            v = (f00 * (1 - wx) + f01 * wx) * (1 - wy[:, None]) + (f10 * (1 - wx) + f11 * wx) * wy[:, None]
            alpha = np.clip((v - threshold) * 12 + 0.5, 0, 1)[..., None]
            k = (ty * 7919 + tx * 104729) % 1000003
            tex = textures[k % len(textures)]
            if k & 1: tex = tex[::-1]
            if k & 2: tex = tex[:, ::-1]
            tile = (backgrounds[k % 4] * (1 - alpha) + tex * alpha).astype(np.uint8)
            h, w = min(T, S - ty * T), min(T, S - tx * T)
            tissue_area[0] += float((alpha[:h, :w] > 0.5).sum()); tissue_area[1] += h * w
            small = tile.reshape(T // 4, 4, T // 4, 4, 3).mean((1, 3)).astype(np.uint8)
            y, x = ty * T // 4, tx * T // 4
            level1[y:y + T // 4, x:x + T // 4] = small[: level1.shape[0] - y, : level1.shape[1] - x]
            yield tile


common = dict(tile=(T, T), photometric="rgb", compression="jpeg", compressionargs={"level": 85},
              resolutionunit="CENTIMETER", metadata=None)
desc = f"EfficientDx synthetic benchmark slide {S}x{S}, 0.5 um/px, JPEG q85 YCbCr 4:2:0, levels 1/4/16/64, seed {a.seed}"
with tifffile.TiffWriter(a.out, bigtiff=S > 40000) as tw:
    tw.write(tiles(), shape=(S, S, 3), dtype=np.uint8, resolution=(20000, 20000), description=desc, subfiletype=0, **common)
    level = level1
    for d in (4, 16, 64):
        if d > 4:  # 4x4 block mean of the previous level
            h, w = level.shape[0] // 4 * 4, level.shape[1] // 4 * 4
            level = level[:h, :w].reshape(h // 4, 4, w // 4, 4, 3).mean((1, 3)).astype(np.uint8)
        tw.write(level, resolution=(20000 / d, 20000 / d), subfiletype=1, **common)
print(f"wrote {a.out}: {S} x {S}, {cols * cols} level-0 tiles, tissue {tissue_area[0] / tissue_area[1]:.1%} of the area, "
      f"{time.perf_counter() - t0:.1f} s")
