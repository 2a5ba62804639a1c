#!/bin/bash
# Detection at level 3 on held-out tracks, from PNG vs through the default JPEG (q90), with a
# calibration fit the old way (frames as they lie, --wire-encoding none) vs wire-true (the
# producers' JPEG, the default). Calibration uses the train side of the track-wise split,
# evaluation the test side (--subset, split seed 0), so no track is in both.
# Usage: scripts/wire_true_figures.sh MODEL.pt OUT_DIR [CLEAN_DATA]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
M=$1
D=$2
DATA=${3:-../shared/data/belgiumtsc}
CH=noise,exposure,gaussianblur,darkening
$PY run_monitor.py synth --data "$DATA" --subset train --challenges $CH --levels 3,5 --wire-encoding none --out "$D/train_raw"
$PY run_monitor.py synth --data "$DATA" --subset train --challenges $CH --levels 3,5 --out "$D/train_jpeg"
$PY run_monitor.py synth --data "$DATA" --subset test --challenges noise,exposure --levels 3 --wire-encoding none --out "$D/heldout"
$PY run_monitor.py calibrate --model "$M" --data "$D/train_raw" --challenges "$D/train_raw" --wire-encoding none \
    --out "$D/cal_old.yaml" --device cpu --allow-unsupported
$PY run_monitor.py calibrate --model "$M" --data "$D/train_jpeg" --challenges "$D/train_jpeg" \
    --out "$D/cal_wire.yaml" --device cpu --allow-unsupported
for cal in old wire; do
  for enc in none jpeg; do
    $PY run_monitor.py evaluate --model "$M" --data "$D/heldout" --calibration "$D/cal_$cal.yaml" \
        --wire-encoding $enc --device cpu --report "$D/rep_${cal}_$enc" > "$D/eval_${cal}_$enc.log"
  done
done
$PY - "$D" <<'PY'
import json
import sys

for cal in ("old", "wire"):
    for enc in ("none", "jpeg"):
        r = json.load(open(f"{sys.argv[1]}/rep_{cal}_{enc}/report.json"))
        rates = ", ".join(f"{t['challenge']}-{t['level']} {t['detection_rate']:.2f}" for t in r["table"])
        print(
            f"calibration fit through {r['meta']['calibration_wire']:8s} frames through {r['meta']['wire']:8s}: "
            f"{rates}; clean false-alarm rate {r['false_alarm_rate_clean']:.4f} of {r['clean_frames']}"
        )
PY
