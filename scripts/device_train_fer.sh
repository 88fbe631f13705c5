#!/usr/bin/env bash
# Trains FER2013 face models on a lent GPU machine (see README "Training the shipped model").
# Usage: scripts/device_train_fer.sh RUN_SPEC...   where RUN_SPEC is "name|minutes|k=v k=v ..."
# Needs .devdata/fer2013_jpegs.npz (packed by scripts/pack_fer2013.py) and optionally
# .devdata/*.safetensors start weights; writes models and logs under $OUT.
set -uo pipefail
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 scripts/pack_fer2013.py --unpack .devdata/fer2013_jpegs.npz /tmp/fer2013 || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
pids=()
for spec in "$@"; do
  IFS='|' read -r name minutes sets <<<"$spec"
  # shellcheck disable=SC2086
  python3 -m emoscope.training.run_cli name="$name" out_dir=/tmp/runs data.root=/tmp/fer2013 \
    data.cache_dir=/tmp/cache trainer.max_minutes="$minutes" trainer.num_threads=4 $sets \
    >"$OUT/$name.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
for spec in "$@"; do
  IFS='|' read -r name _ _ <<<"$spec"
  cp /tmp/runs/"$name"/model.json "$OUT/$name.json" 2>/dev/null
  cp /tmp/runs/"$name"/model.safetensors "$OUT/$name.safetensors" 2>/dev/null
  cp /tmp/runs/"$name"/metrics.csv "$OUT/$name.metrics.csv" 2>/dev/null
  tail -3 "$OUT/$name.log"
done
ls -la "$OUT"
