#!/usr/bin/env bash
# Every long training run of the experiments, one after another, on the dense engine.
#
# Usage (from the repository root):
#     OPENBLAS_NUM_THREADS=1 nohup nice -n 10 bash experiments/queue.sh > results/queue.log 2>&1 &
#
# Each run checkpoints after every epoch and on SIGTERM, so running the same command again
# continues where it stopped. Set PYTHON to choose the interpreter and OUT the results folder.
# Order: the main preset run (Figure 2, shallow, T- = 20, Initialized EP) to 25 epochs
# first; then the other shallow runs of Figure 2 and the global run of Figure 3 in rounds
# of one epoch each, so that all advance together; last the deep runs of Figure 2, in
# rounds too.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=${OUT:-results}
SHALLOW_EPOCHS=${SHALLOW_EPOCHS:-25}
DEEP_EPOCHS=${DEEP_EPOCHS:-200}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

step() {
    echo "=== $(date '+%F %T') $*"
    "$@" || echo "=== $(date '+%F %T') exit status $?: $*"
}

main_run=$OUT/fig2/shallow-t20-initep
resume=()
[ -f "$main_run/checkpoint.npz" ] && resume=(--resume)
step "$PYTHON" -m neurosim train mnist-784-500-10 --engine dense --epochs 25 \
    --out "$main_run" --no-progress "${resume[@]}"

for epoch in $(seq 1 "$SHALLOW_EPOCHS"); do
    step "$PYTHON" experiments/fig2_learning_curves.py --epochs "$epoch" --out "$OUT/fig2" \
        --no-plot --only shallow-t4-ep shallow-t4-initep-lambda0 shallow-t4-initep-lambda0.1 \
        shallow-t4-initep-lambda1 shallow-t20-ep
    step "$PYTHON" experiments/fig3_local_global.py --epochs "$epoch" --out "$OUT/fig3" \
        --reuse-local "$main_run"
done

for epoch in $(seq 1 "$DEEP_EPOCHS"); do
    step "$PYTHON" experiments/fig2_learning_curves.py --epochs "$epoch" --out "$OUT/fig2" \
        --no-plot --only deep-t20-ep deep-t20-initep deep-t50-ep deep-t50-initep
done
