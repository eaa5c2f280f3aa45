#!/usr/bin/env python3
"""ONNX Runtime's own per-layer profile of an EfficientNet, grouped the way `effdx bench infer
--by-shape` groups ours, so the two can be read side by side (issue #21: "look before guessing").

Run (the reference venv of ../shared/tools/bench_reference.py; its ONNX export is reused):
  /tmp/refvenv/bin/python Scripts/dev/ort_profile.py --arch efficientnet_b7 --res 600 --batch 1 --threads 1
Prints the time per node kind (1x1 expansion / projection, depthwise k x k, stem, SE, head,
layout reorders, ...) and the slowest node shapes, from `SessionOptions.enable_profiling`, as
the median over --iters profiled runs after one warm-up. Kinds are read from the weights' shapes:
a convolution whose weight is [C, 1, k, k] is depthwise; a 1x1 one expands when it widens.
"""
import argparse, collections, json, os, statistics, tempfile

p = argparse.ArgumentParser()
p.add_argument("--arch", default="efficientnet_b7")
p.add_argument("--res", type=int, default=600)
p.add_argument("--batch", type=int, default=1)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--iters", type=int, default=3)
p.add_argument("--classes", type=int, default=10)
p.add_argument("--top", type=int, default=20)
a = p.parse_args()

import numpy as np, onnxruntime as ort

path = os.path.join(tempfile.gettempdir(), f"{a.arch}_{a.res}_{a.classes}.onnx")
if not os.path.exists(path):
    import torch, timm
    torch.manual_seed(0)
    m = timm.create_model(a.arch, num_classes=a.classes).eval()
    torch.onnx.export(m, torch.randn(1, 3, a.res, a.res), path, opset_version=17, dynamo=False,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}})

so = ort.SessionOptions()
so.intra_op_num_threads, so.inter_op_num_threads = a.threads, 1
so.enable_profiling = True
so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).standard_normal((a.batch, 3, a.res, a.res), dtype=np.float32)
for _ in range(a.iters + 1):
    s.run(None, {"x": x})
trace = json.load(open(s.end_profiling()))


def shapes(event, key):
    return [list(d.values())[0] for d in event.get("args", {}).get(key, [])]


def kind(event):
    op = event["args"].get("op_name", "?")
    ins = shapes(event, "input_type_shape")
    outs = shapes(event, "output_type_shape")
    if op in ("Conv", "FusedConv") and len(ins) >= 2 and len(ins[1]) == 4:
        w = ins[1]
        x, y = ins[0], outs[0] if outs else []
        cin = x[1] if len(x) == 4 else "?"
        if w[1] == 1 and w[2] > 1:
            return f"depthwise {w[2]}x{w[3]} {y[2]}x{y[3]} {w[0]}" if len(y) == 4 else f"depthwise {w[2]}x{w[3]}"
        if w[2] == 1:
            side = f"{y[2]}x{y[3]}" if len(y) == 4 else ""
            return f"{'expand' if w[0] > w[1] else 'project'} {side} {w[1]}->{w[0]}"
        return f"conv {w[2]}x{w[3]} {w[1]}->{w[0]}"
    if op in ("Conv", "FusedConv"):  # NCHWc-blocked convolution: shapes of the blocked tensors
        return f"{op} (NCHWc) {ins[0] if ins else ''} -> {outs[0] if outs else ''}"
    y = outs[0] if outs else []
    return f"{op} {y[2]}x{y[3]} {y[1]}" if len(y) == 4 and y[2] > 1 else op


# Node events per run: the runs are "model_run" events; nodes between them belong to the run.
runs, current = [], None
for e in sorted((e for e in trace if e.get("ph") == "X"), key=lambda e: e["ts"]):
    if e.get("name") == "model_run":
        runs.append((e["ts"], e["ts"] + e["dur"], collections.Counter(), collections.Counter()))
for e in trace:
    if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
        continue
    for start, end, by_kind, by_op in runs:
        if start <= e["ts"] <= end:
            by_kind[kind(e)] += e["dur"]
            by_op[e["args"].get("op_name", "?")] += e["dur"]
            break
runs = runs[1:]  # the warm-up
total = statistics.median(end - start for start, end, _, _ in runs) / 1000
print(f"ONNX Runtime {ort.__version__}, {a.arch} @{a.res}, batch {a.batch}, {a.threads} threads: "
      f"{total:.1f} ms per run (median of {len(runs)} profiled runs)")
for title, index, top in (("by operator", 3, 15), ("by node kind and shape", 2, a.top)):
    keys = set().union(*(r[index].keys() for r in runs))
    med = {k: statistics.median(r[index][k] for r in runs) / 1000 for k in keys}
    print(f"  {title}:")
    for k, ms in sorted(med.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {k:<46} {ms:9.1f} ms {100 * ms / total:5.1f}%")
