#!/bin/bash
# Issue 11's independent figure through the real pipeline, leave one rendering out: a calibration
# fit with `calibrate` on the calibration tracks in one rendering (A = monitor/challenges.py,
# B = monitor/renderings.py), then the TEST tracks in the other rendering replayed through a
# broker (`produce replay --gap 20`, JPEG q90 as the producers send), scored by `score
# --calibration` and judged by `check`; then the reverse (or the DIRECTIONS asked for). Each
# command is its own process.
# Split and model as scripts/loro_wire_experiment.py (seed 0): a 20-epoch GradCon on the training
# tracks (trained by scripts/wire_loro_sets.py when MODEL does not exist), 187 calibration tracks
# (554 frames, levels 2-5, written through the wire's JPEG by synth), 24 test episodes of 15 frames
# per condition and level (levels 3-5, 12 conditions: 864 per direction), 24 streams of one chunk
# each, 20 clear frames (the chunk's own clean frames) between episodes.
#
# Usage: scripts/wire_loro_check.sh MODEL.pt OUT_DIR [DEPLOYMENT.yaml]
#   DEPLOYMENT.yaml: passed to `score` (e.g. `baseline: {enabled: true}`); its results are named
#   after it. Sets and calibrations in OUT_DIR are reused when present (delete them to rebuild).
#   PORT (default 39417): the private broker's port; PYTHON: the interpreter (default .venv/bin/python).
#   SHUFFLE: a seed for `produce replay --shuffle` (each stream's episodes in a shuffled order after its
#   clear sequence; results named ..._shuffle<SEED>); unset: sorted, codec error opening every stream.
#   DIRECTIONS (default "A-B B-A"): FIT-TEST pairs of renderings, each side one or more letters:
#   "AB-C" fits on a calibration set whose tracks take A and B in turn (calib_AB, cal_AB.yaml)
#   and tests on the test tracks in C (test_C): the honest holdout, C being written blind to the
#   detector (monitor/rendering_c.py). "ABC-D" fits on A, B and C (calib_ABC) and tests on D
#   (monitor/rendering_d.py): the session's final holdout, written blind after A, B and C had all
#   been used to develop the detector. "ABCD-E" fits on A-D (calib_ABCD) and tests on E
#   (monitor/rendering_e.py): the holdout for the product as shipped (fit on A-D), written blind.
#   "ABC-F" fits on the default FIT_RENDERINGS (calib_ABC) and tests on F (monitor/rendering_f.py),
#   written blind and measured once on 2026-11-30. "ABC-G" does the same for G
#   (monitor/rendering_g.py): written blind, measured once on 2026-11-30 (docs/DESIGN.md §5.8).
#   "ABC-H" and "ABC-I" do the same for H and I (monitor/rendering_h.py, _i.py): written blind,
#   each measured once on 2026-12-01 (docs/DESIGN.md §5.8); "ABC-J" and "ABC-K" the same for J and K.
#   "ABC-L" for L (monitor/rendering_l.py): written blind, measured once on 2026-12-01 (§5.8).
#   "ABC-M" for M (monitor/rendering_m.py): written blind, measured once on 2026-12-01 (§5.8).
#   "ABC-N" for N (monitor/rendering_n.py): written blind, measured once on 2026-12-02 (§5.8).
#   "ABC-O" for O (monitor/rendering_o.py): written blind, measured once on 2026-12-02 (§5.8).
#   "ABC-P" for P (monitor/rendering_p.py): written blind, measured once on 2026-12-02 (§5.8).
#   "ABC-Q" for Q (monitor/rendering_q.py): written blind, measured once on 2026-12-02 (§5.8).
#   "ABC-R" for R (monitor/rendering_r.py): the next holdout, written blind, not measured yet (§3.2).
# Results: OUT_DIR/check_<fit>-<test>[_<config>].json (check --json) and .log (the printed table);
# OUT_DIR/table[_<config>].md: the directions run, per condition (scripts/wire_loro_table.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
M=$1
D=$2
CFG=${3:-}
PORT=${PORT:-39417}
DIRECTIONS=${DIRECTIONS:-"A-B B-A"}
# The renderings there are (monitor.renderings.RENDERINGS), asked once: a letter that names none
# is refused here, before any set is built, not by synth minutes later.
KNOWN=$($PY -c "from monitor.renderings import RENDERINGS; print(''.join(RENDERINGS))")
for DIR in $DIRECTIONS; do
  [[ $DIR =~ ^[$KNOWN]+-[$KNOWN]+$ ]] || { echo "DIRECTIONS: '$DIR' is not FIT-TEST renderings (the renderings are $KNOWN), e.g. A-B, AB-C or ABC-H" >&2; exit 2; }
  # A fit that saw a tested rendering's tracks would not be a holdout (calib and test sets share no tracks,
  # but the rendering itself would have been learnt).
  if [[ ${DIR%-*} =~ [${DIR#*-}] ]]; then echo "DIRECTIONS: '$DIR' fits on a rendering it tests" >&2; exit 2; fi
done
TAG=""
CFGARG=()
if [ -n "$CFG" ]; then
  TAG="_$(basename "$CFG" .yaml)"
  CFGARG=(--config "$CFG")
fi
SHUFFLEARG=()
if [ -n "${SHUFFLE:-}" ]; then
  TAG="${TAG}_shuffle$SHUFFLE"
  SHUFFLEARG=(--shuffle "$SHUFFLE")
fi
mkdir -p "$D/run$TAG"
# The broker records its address under XDG_RUNTIME_DIR and refuses to start while another is
# recorded there: a folder per run keeps other brokers (and a run with another config) apart.
export XDG_RUNTIME_DIR
XDG_RUNTIME_DIR=$(cd "$D/run$TAG" && pwd)
BS=127.0.0.1:$PORT

letters() { echo "$1" | sed 's/./&,/g; s/,$//'; }  # AB -> A,B (synth deals the tracks to them in turn)

[ -d "$D/test_clean" ] || $PY scripts/wire_loro_sets.py --out "$D" --model "$M"
for DIR in $DIRECTIONS; do
  F=${DIR%-*}
  T=${DIR#*-}
  [ -f "$D/calib_$F/manifest.csv" ] || $PY run_monitor.py synth --data "$D/calib_clean" --renderings "$(letters "$F")" \
      --levels 2,3,4,5 --out "$D/calib_$F"
  # Test frames as the camera sees them; the producer's JPEG q90 is their only wire encoding.
  [ -f "$D/test_$T/manifest.csv" ] || $PY run_monitor.py synth --data "$D/test_clean" --renderings "$(letters "$T")" \
      --levels 3,4,5 --wire-encoding none --out "$D/test_$T"
  [ -f "$D/cal_$F.yaml" ] || $PY run_monitor.py calibrate --model "$M" --data "$D/calib_$F" \
      --challenges "$D/calib_$F" --allow-unsupported --device cpu --out "$D/cal_$F.yaml"
done

BROKER_PID=""
stop_broker() {
  if [ -n "$BROKER_PID" ]; then
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
  fi
}
trap stop_broker EXIT

one_direction() {  # FIT TEST: a fresh broker (memory storage: empty topics), produce, score, check
  local fit=$1 test=$2 out="$D/check_$1-$2$TAG"
  $PY run_monitor.py broker --port "$PORT" > "$out.broker.log" 2>&1 &
  BROKER_PID=$!
  for _ in $(seq 300); do  # a loaded host has taken over a minute to start it
    grep -q "bootstrap servers" "$out.broker.log" && break
    kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker did not start: $(tail -1 "$out.broker.log")" >&2; exit 1; }
    sleep 1
  done
  $PY run_monitor.py produce replay "$D/test_$test" --bootstrap-servers "$BS" --levels 0,3,4,5 --gap 20 \
      "${SHUFFLEARG[@]}" --streams 24 --prefix "wire-$fit$test" --fps 0 > "$out.produce.log" 2>&1
  $PY run_monitor.py "${CFGARG[@]}" score --bootstrap-servers "$BS" --model "$M" --calibration "$D/cal_$fit.yaml" \
      --device cpu --idle-exit 30 > "$out.score.log" 2>&1
  $PY run_monitor.py check --bootstrap-servers "$BS" --timeout 600 --json "$out.json" | tee "$out.log"
  stop_broker
}

date -u +"%Y-%m-%d %H:%M UTC; load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores" | tee "$D/when$TAG.txt"
for DIR in $DIRECTIONS; do
  one_direction "${DIR%-*}" "${DIR#*-}"
done
date -u +"%Y-%m-%d %H:%M UTC; load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$D/when$TAG.txt"
$PY scripts/wire_loro_table.py "$D" "$TAG" $DIRECTIONS | tee "$D/table$TAG.md"
