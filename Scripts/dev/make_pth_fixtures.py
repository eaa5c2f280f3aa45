#!/usr/bin/env python3
"""Test data for EfficientDx's PyTorch checkpoint reader (Tests/TestData/pth).

Real `torch.save` files, small on purpose (width 0.25, depth 0.25, 5 classes), each with the
reference logits PyTorch computes for a fixed 32x32 input, plus hostile pickles that must be
rejected. Developer tooling only: CI never runs it. Made with torch 2.15, timm 1.0.31,
torchvision 0.29, efficientnet_pytorch 0.7.1:
    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install torch timm efficientnet_pytorch safetensors
    /tmp/refvenv/bin/python Scripts/dev/make_pth_fixtures.py Tests/TestData/pth
"""
import io, os, pickle, sys, zipfile
import torch, timm, torchvision
from functools import partial
from safetensors.torch import save_file
from timm.models.efficientnet import _gen_efficientnet
from torchvision.models.efficientnet import _efficientnet_conf, EfficientNet as TVEfficientNet
from efficientnet_pytorch import EfficientNet as LMEfficientNet

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/TestData/pth"
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
ref = {"input_nhwc": x.permute(0, 2, 3, 1).contiguous()}


def randomize_bn(model):
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model.eval()


# timm names, plain state_dict (OrderedDict with _metadata, num_batches_tracked int64 tensors).
timm_model = randomize_bn(_gen_efficientnet("efficientnet_b0", channel_multiplier=0.25, depth_multiplier=0.25,
                                            pretrained=False, num_classes=5))
with torch.no_grad():
    ref["timm.logits"] = timm_model(x)
torch.save(timm_model.state_dict(), f"{out}/timm_tiny.pth")

# torchvision names, wrapped as a training checkpoint {"model": ..., "epoch": ..., ...}.
settings, last = _efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.25)
tv_model = randomize_bn(TVEfficientNet(settings, dropout=0.2, last_channel=last, num_classes=5))
with torch.no_grad():
    ref["torchvision.logits"] = tv_model(x)
torch.save({"model": tv_model.state_dict(), "epoch": 7, "best_acc1": 0.913, "args": {"lr": 0.1, "name": "tv"}},
           f"{out}/torchvision_tiny_wrapped.pth")

# efficientnet_pytorch names (TF SAME padding, BN eps 1e-3), wrapped as {"state_dict": ...}, half precision.
lm_model = LMEfficientNet.from_name("efficientnet-b0", width_coefficient=0.25, depth_coefficient=0.25,
                                    num_classes=5, image_size=32)
lm_model = randomize_bn(lm_model)
lm_model.set_swish(memory_efficient=False)
lm_half = {k: (v.half() if v.is_floating_point() else v) for k, v in lm_model.state_dict().items()}
lm_model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in lm_half.items()})
with torch.no_grad():
    ref["efficientnet_pytorch.logits"] = lm_model(x)
torch.save({"state_dict": lm_half}, f"{out}/efficientnet_pytorch_tiny_half.pth")
# The same weights in the legacy (pre-1.6, non-zip) format, as many published files still are.
torch.save(lm_half, f"{out}/efficientnet_pytorch_tiny_half_legacy.pth", _use_new_zipfile_serialization=False)

# Layout corner cases: a transposed (non-contiguous) tensor, two views sharing one storage,
# bf16, float64, an nn.Parameter, and a 0-d tensor.
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
shared = torch.arange(10, dtype=torch.float32)
corner = {"transposed": base.t(), "view_a": shared[2:5], "view_b": shared[5:9],
          "bf16": torch.tensor([1.0, -3.5, 0.15625], dtype=torch.bfloat16),
          "f64": torch.tensor([[0.1, 0.2]], dtype=torch.float64),
          "param": torch.nn.Parameter(torch.tensor([2.0, 4.0])), "scalar": torch.tensor(3.25)}
torch.save(corner, f"{out}/layouts.pth")

# A legacy-format file whose storage list is cut short: rejected with a clear message.
legacy = io.BytesIO()
torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
open(f"{out}/legacy_truncated.pth", "wb").write(legacy.getvalue()[:-6])


# Hostile pickles inside a valid torch zip: each would run a command if unpickled by Python.
def hostile(name, payload):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")
    open(f"{out}/{name}", "wb").write(buf.getvalue())


class System:
    def __reduce__(self):
        return (os.system, ("touch /tmp/effdx_pickle_pwned",))


class Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch /tmp/effdx_pickle_pwned')",))


hostile("malicious_os_system.pth", pickle.dumps({"w": System()}, protocol=2))
hostile("malicious_eval.pth", pickle.dumps({"w": Eval()}, protocol=2))
# REDUCE of an allowed-looking callable that is not a tensor rebuild: collections.OrderedDict is
# allowed only with no arguments; getattr is never allowed.
hostile("malicious_getattr.pth", pickle.dumps({"w": getattr}, protocol=2))

# Hand-assembled REDUCEs of allowed globals used as something other than a state-dict
# building block: calling a storage type, and an OrderedDict built from arguments.
hostile("malicious_reduce_storage.pth", b"\x80\x02}q\x00X\x01\x00\x00\x00wctorch\nFloatStorage\nK\x05\x85Rs.")
hostile("malicious_ordereddict_args.pth", b"\x80\x02ccollections\nOrderedDict\n]\x85R.")

save_file({k: v.contiguous() for k, v in ref.items()}, f"{out}/reference_logits.safetensors")
for f in sorted(os.listdir(out)):
    print(f, os.path.getsize(f"{out}/{f}"))
