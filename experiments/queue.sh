#!/usr/bin/env bash
# Every long training run of the experiments, one after another, on the dense engine.
#
# Usage (from the repository root):
#     OPENBLAS_NUM_THREADS=1 nohup nice -n 10 bash experiments/queue.sh > results/queue.log 2>&1 &
#
# Each run checkpoints after every epoch and on SIGTERM, so running the same command again
# continues where it stopped. Set PYTHON to choose the interpreter and OUT the results folder.
# One BLAS thread per process is much faster than two on a loaded 2-core machine.
#
# Order: (1) the main preset run (Figure 2, shallow, T- = 20, Initialized EP) to 25 epochs;
# (2) the other shallow runs of Figure 2 and the global run of Figure 3, in rounds of one
# epoch each so that they advance together, to PREVIEW_AFTER epochs; (3) a preview of the
# deep runs, 2 epochs of the first 6000 training samples each; (4) the shallow rounds
# to 25 epochs; (5) the deep runs on the whole training set, in rounds.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=${OUT:-results}
PREVIEW_AFTER=${PREVIEW_AFTER:-5}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

step() {
    echo "=== $(date '+%F %T') $*"
    "$@" || echo "=== $(date '+%F %T') exit status $?: $*"
}

shallow_round() {
    step "$PYTHON" experiments/fig2_learning_curves.py --epochs "$1" --out "$OUT/fig2" \
        --no-plot --only shallow-t4-ep shallow-t4-initep-lambda0 shallow-t4-initep-lambda0.1 \
        shallow-t4-initep-lambda1 shallow-t20-ep
    step "$PYTHON" experiments/fig3_local_global.py --epochs "$1" --out "$OUT/fig3" \
        --reuse-local "$main_run"
}

deep=(deep-t20-ep deep-t20-initep deep-t50-ep deep-t50-initep)

main_run=$OUT/fig2/shallow-t20-initep
resume=()
[ -f "$main_run/checkpoint.npz" ] && resume=(--resume)
step "$PYTHON" -m neurosim train mnist-784-500-10 --engine dense --epochs 25 \
    --out "$main_run" --no-progress "${resume[@]}"

for epoch in $(seq 1 "$PREVIEW_AFTER"); do
    shallow_round "$epoch"
done

step "$PYTHON" experiments/fig2_learning_curves.py --epochs 2 --max-samples 6000 \
    --out "$OUT/fig2-deep-preview" --no-plot --only "${deep[@]}"

for epoch in $(seq $((PREVIEW_AFTER + 1)) 25); do
    shallow_round "$epoch"
done

for epoch in $(seq 1 200); do
    step "$PYTHON" experiments/fig2_learning_curves.py --epochs "$epoch" --out "$OUT/fig2" \
        --no-plot --only "${deep[@]}"
done
