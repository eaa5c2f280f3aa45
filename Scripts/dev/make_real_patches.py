#!/usr/bin/env python3
"""Real-image recipe data: 64 x 64 patches of scikit-image's bundled photos and textures, one
class per source image, training patches from the left 60% of each image and test patches from
the right 40% (disjoint regions, so a test patch never overlaps a training one).

Developer tooling, never run by CI. Needs numpy, pillow and scikit-image (the reference venv of
../shared/tools/bench_reference.py has them):

    python Scripts/dev/make_real_patches.py --out /tmp/real6 --train 40 --test 20
    # -> /tmp/real6/train/<class>/*.png (240), /tmp/real6/test/<class>/*.png (120)

With --svs SLIDE (the real Aperio fixture; tifffile and imagecodecs read it), a histology task
instead: tissue patches at three magnifications (the slide's 0.5 um/px, and 1 and 2 um/px by
area downsampling), one class each, training patches from the top 60% of the slide and test
patches from the bottom 40%; a patch is kept when at most half of it is bright background.
"""
import argparse
import os

import numpy as np
from PIL import Image
from skimage import data

SOURCES = {
    "brick": data.brick, "grass": data.grass, "gravel": data.gravel,
    "coffee": data.coffee, "chelsea": data.chelsea, "ihc": data.immunohistochemistry,
}


def rgb(a):
    a = np.asarray(a)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.dtype != np.uint8:
        a = (255 * (a - a.min()) / max(1e-9, a.max() - a.min())).astype(np.uint8)
    return a[..., :3]


def tissue(patch):
    """At most half of the pixels are bright, unsaturated glass."""
    a = patch.astype(np.float32)
    glass = (a.min(axis=-1) > 200) & (a.max(axis=-1) - a.min(axis=-1) < 25)
    return glass.mean() <= 0.5


def histology(a, rng):
    import tifffile
    base = tifffile.imread(a.svs, key=0)
    for name, factor in (("mpp0.5", 1), ("mpp1.0", 2), ("mpp2.0", 4)):
        img = np.asarray(Image.fromarray(base).resize((base.shape[1] // factor, base.shape[0] // factor), Image.BOX))
        h, w, _ = img.shape
        split = int(h * 0.6)
        for part, count, y0, y1 in (("train", a.train, 0, split - a.size), ("test", a.test, split, h - a.size)):
            folder = os.path.join(a.out, part, name)
            os.makedirs(folder, exist_ok=True)
            kept, tries = 0, 0
            while kept < count and tries < 100000:
                tries += 1
                y, x = rng.integers(y0, y1 + 1), rng.integers(0, w - a.size + 1)
                patch = img[y:y + a.size, x:x + a.size]
                if tissue(patch):
                    Image.fromarray(patch).save(os.path.join(folder, f"{name}_{kept:03d}.png"))
                    kept += 1
    print(f"wrote 3 magnifications: {a.train} training and {a.test} test tissue patches each, to {a.out}/train and {a.out}/test")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--train", type=int, default=40, help="training patches per class")
    p.add_argument("--test", type=int, default=20, help="test patches per class")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--svs", help="a histology task from this slide instead of the photos")
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    if a.svs:
        return histology(a, rng)
    for name, load in SOURCES.items():
        img = rgb(load())
        h, w, _ = img.shape
        split = int(w * 0.6)
        for part, count, x0, x1 in (("train", a.train, 0, split - a.size), ("test", a.test, split, w - a.size)):
            folder = os.path.join(a.out, part, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                y, x = rng.integers(0, h - a.size + 1), rng.integers(x0, x1 + 1)
                Image.fromarray(img[y:y + a.size, x:x + a.size]).save(os.path.join(folder, f"{name}_{i:03d}.png"))
    print(f"wrote {len(SOURCES)} classes: {a.train} training and {a.test} test patches each, to {a.out}/train and {a.out}/test")


if __name__ == "__main__":
    main()
