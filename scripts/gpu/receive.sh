# On the GPU machine: report which of stage.sh's payload parts have arrived; with --unpack,
# check every part against MANIFEST and unpack the payload into .gpu/ (exit 4 if any is
# missing or damaged, naming it).
set -uo pipefail
cd .gpu/carry 2>/dev/null || { echo "receive.sh: no .gpu/carry here" >&2; exit 4; }
missing=$(awk '{print $2}' MANIFEST | while read -r p; do [ -f "$p" ] || echo "$p"; done)
echo "parts here: $(ls part-* 2>/dev/null | tr '\n' ' ')"
if [ -n "$missing" ]; then
  echo "missing: $(echo $missing)"
  if [ "${1:-}" = --unpack ]; then exit 4; fi
  exit 0
fi
sha256sum -c --quiet MANIFEST || { echo "receive.sh: a part is damaged" >&2; exit 4; }
if [ "${1:-}" = --unpack ]; then
  cat part-* | tar -C .. -xf - || exit 4
  echo "unpacked into .gpu/: $(ls .. | grep -v carry | tr '\n' ' ')"
fi
