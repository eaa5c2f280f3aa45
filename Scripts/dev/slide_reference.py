#!/usr/bin/env python3
"""End-to-end whole-slide diagnosis in Python as a pathology user writes it (the reference for
`effdx diagnose` on a slide; `Scripts/bench-compare --mode slide` runs both): tifffile opens the
pyramid; the smallest level is the thumbnail; the tissue mask is Otsu's threshold on HSV
saturation (stain is saturated, glass and background are not), and a tile's tissue fraction is
the mask's area-weighted mean over its footprint; the non-overlapping 224 x 224 tiles of level 0
with fraction >= --min-tissue are read in row order, each by decoding only the stored tiles it
touches (tifffile `page.decode` on the raw bytes, imagecodecs' libjpeg-turbo, as
Scripts/dev/bench_tifffile.py does) with an LRU cache of two rows of decoded tiles, so no stored
tile is decoded twice; ImageNet normalisation; ONNX Runtime (intra-op threads = --threads) in
batches of --batch; the slide's probabilities are the mean softmax over its tiles.

`seconds` runs from opening the slide (thumbnail, mask, tile reads, inference) to the end; model
creation and one warm-up batch are excluded (effdx is timed as a whole process, so the
comparison favours the reference slightly). With --onnx FILE the model is loaded from there
(torch is not imported, so peak_rss_mb is ONNX Runtime's, as in deployment); without it,
timm's tf_efficientnet_lite0 with --classes outputs and random weights (seed 0) is exported.

Venv (see Scripts/bench-compare): torch, timm, onnx, onnxruntime, onnxscript, tifffile,
imagecodecs, numpy. Slide: Scripts/dev/make_bench_slide.py.
    /tmp/refvenv/bin/python Scripts/dev/slide_reference.py SLIDE.tif [--onnx MODEL.onnx] [--threads 2]
        [--batch 16] [--tile 224] [--min-tissue 0.5] [--classes 2]
"""
import argparse, collections, json, os, resource, tempfile, time
import numpy as np
import onnxruntime as ort
import tifffile

p = argparse.ArgumentParser()
p.add_argument("slide"); p.add_argument("--onnx"); p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=int, default=16); p.add_argument("--tile", type=int, default=224)
p.add_argument("--min-tissue", type=float, default=0.5); p.add_argument("--classes", type=int, default=2)
a = p.parse_args()


def export(path):
    import torch, timm
    torch.manual_seed(0)
    m = timm.create_model("tf_efficientnet_lite0", num_classes=a.classes).eval()
    torch.onnx.export(m, torch.randn(1, 3, a.tile, a.tile), path, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False)


model = a.onnx or os.path.join(tempfile.mkdtemp(), "lite0.onnx")
if not os.path.exists(model):
    export(model)
so = ort.SessionOptions(); so.intra_op_num_threads = a.threads; so.inter_op_num_threads = 1
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
sess.run(None, {"x": np.zeros((a.batch, 3, a.tile, a.tile), np.float32)})  # warm-up
mean = np.array([0.485, 0.456, 0.406], np.float32) * 255; std = np.array([0.229, 0.224, 0.225], np.float32) * 255


def otsu(values):
    hist = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    w0 = np.cumsum(hist); w1 = w0[-1] - w0; m0 = np.cumsum(hist * np.arange(256))
    mu0 = m0 / np.maximum(w0, 1); mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    return int(np.argmax(w0 * w1 * (mu0 - mu1) ** 2))  # tissue: value > threshold


def coverage(n_tiles, tile, scale, n_px):
    """[n_tiles, n_px]: the share of each tile's footprint (in thumbnail pixels) in each pixel."""
    lo = np.arange(n_tiles)[:, None] * tile * scale; hi = lo + tile * scale; j = np.arange(n_px)[None]
    return np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None) / (tile * scale)


start = time.perf_counter()
with tifffile.TiffFile(a.slide) as tif:
    level0 = tif.pages[0]
    H, W = level0.shape[:2]
    thumb = min(tif.pages, key=lambda q: q.shape[1]).asarray()[..., :3].astype(np.int32)
    mx, mn = thumb.max(-1), thumb.min(-1)
    sat = np.where(mx > 0, (mx - mn) * 255 // np.maximum(mx, 1), 0).astype(np.uint8)
    mask = (sat > otsu(sat)).astype(np.float64)
    ny, nx = H // a.tile, W // a.tile
    frac = coverage(ny, a.tile, thumb.shape[0] / H, thumb.shape[0]) @ mask @ coverage(nx, a.tile, thumb.shape[1] / W, thumb.shape[1]).T
    kept = [(y * a.tile, x * a.tile) for y, x in zip(*np.nonzero(frac >= a.min_tissue))]  # row order

    th, tw = level0.tilelength, level0.tilewidth
    across = -(-W // tw)
    cache, fh = collections.OrderedDict(), tif.filehandle
    decode = level0.decode  # built once, before any seek (building it reads the file)
    capacity = 2 * across + 2

    def stored(ty, tx):
        key = ty * across + tx
        if key in cache:
            cache.move_to_end(key); return cache[key]
        fh.seek(level0.dataoffsets[key])
        data = fh.read(level0.databytecounts[key])
        arr, _, _ = decode(data, key, jpegtables=level0.jpegtables)
        cache[key] = arr = np.asarray(arr).reshape(th, tw, -1)[..., :3]
        if len(cache) > capacity:
            cache.popitem(last=False)
        return arr

    def read(y, x):
        out = np.empty((a.tile, a.tile, 3), np.uint8)
        for ty in range(y // th, (y + a.tile - 1) // th + 1):
            for tx in range(x // tw, (x + a.tile - 1) // tw + 1):
                y0, x0 = max(y, ty * th), max(x, tx * tw)
                y1, x1 = min(y + a.tile, (ty + 1) * th), min(x + a.tile, (tx + 1) * tw)
                out[y0 - y:y1 - y, x0 - x:x1 - x] = stored(ty, tx)[y0 - ty * th:y1 - ty * th, x0 - tx * tw:x1 - tx * tw]
        return out

    total = np.zeros(a.classes, np.float64)
    for i in range(0, len(kept), a.batch):
        batch = np.stack([read(y, x) for y, x in kept[i:i + a.batch]]).astype(np.float32)
        x = ((batch - mean) / std).transpose(0, 3, 1, 2).copy()
        logits = sess.run(None, {"x": x})[0]
        e = np.exp(logits - logits.max(1, keepdims=True))
        total += (e / e.sum(1, keepdims=True)).sum(0)
seconds = time.perf_counter() - start
print(json.dumps({"system": "tifffile+onnxruntime", "tiles": len(kept), "candidates": nx * ny, "threads": a.threads,
                  "seconds": round(seconds, 2), "tiles_per_s": round(len(kept) / seconds, 2),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                  "probabilities": [round(v, 4) for v in (total / max(1, len(kept))).tolist()]}))
