# Stage everything run.sh needs on the GPU machine, from a clean clone: the int8 teacher of
# shipped generations 8, 12 and 14 (8 and 12 restored from git) and the packed FER2013 arrays.
#
#   bash scripts/gpu/stage.sh [FER2013_ROOT]   # default ../shared/data/fer2013
#
# A device call carries at most 64 MiB *including the tracked tree* (about 56 MB of shipped
# weights), so the payload is cut into parts that each fit beside it. Ignored paths stay on a
# warm machine between calls, so the parts go one per call, back to back (the machine is given
# back after about 30 s idle):
#   run(command="bash scripts/gpu/receive.sh", carry=[".gpu/carry/MANIFEST", ".gpu/carry/part-00"])
#   ... one call per part ...
#   run(command="bash scripts/gpu/run.sh", carry=[".gpu/carry/MANIFEST", ".gpu/carry/part-NN"])
# run.sh checks every part against MANIFEST and unpacks them; it exits 4 naming the missing ones.
set -euo pipefail
ROOT=${1:-../shared/data/fer2013}
PY=${PY:-.venv/bin/python}
EMOSCOPE=${EMOSCOPE:-.venv/bin/emoscope}
LIMIT=$((64 * 1024 * 1024))
WEIGHTS=src/emoscope/weights/fer2013-lite0
restore() {  # restore COMMIT DIR: the shipped face model as it was at COMMIT
  mkdir -p "$2"
  for ext in safetensors json; do git show "$1:$WEIGHTS.$ext" >"$2/fer2013-lite0.$ext"; done
}
restore f1ea8f5 runs/face14/run8
restore 425dc61 runs/face14/run12
rm -rf .gpu && mkdir -p .gpu/stage/teacher .gpu/carry
"$EMOSCOPE" ensemble runs/face14/run8/fer2013-lite0.json \
  runs/face14/run12/fer2013-lite0.json $WEIGHTS.json \
  -o .gpu/stage/teacher/gens-8-12-14.safetensors --precision int8
"$PY" scripts/gpu/pack.py "$ROOT" .gpu/stage/data

# What travels anyway: tracked and untracked-but-not-ignored files that exist.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null |
  awk '{s += $1} END {print s}')
part=$((LIMIT - tree - 1024 * 1024))  # 1 MiB for the manifest and slack
if ((part < 1024 * 1024)); then
  echo "stage.sh: the working tree ($tree bytes) leaves no room under the 64 MiB carry limit" >&2
  exit 1
fi
tar -C .gpu/stage -cf - teacher data | split -b "$part" -d -a 2 - .gpu/carry/part-
rm -rf .gpu/stage
(cd .gpu/carry && sha256sum part-* >MANIFEST)
n=$(ls .gpu/carry/part-* | wc -l)
echo "tree $((tree / 1048576)) MiB; payload in $n parts of at most $((part / 1048576)) MiB:"
ls -l .gpu/carry
