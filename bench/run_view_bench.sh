#!/usr/bin/env bash
# `mechlens view` on a 32-layer x 32-head model over 128 tokens (the issue's stress case): the page's
# size against the raw float32 maps, the time to write it against recording the same maps to HDF5,
# and the time until headless Chromium has drawn it (data-ready, first large map and visible
# thumbnails) against loading an empty page in the same browser. Needs a build and Debian's chromium.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MECHLENS_BUILD_DIR:-$root/build}
MECHLENS_BUILD_TARGET=mechlens bash "$root/scripts/build.sh"
mechlens="$build/src/cli/mechlens"
browser=$(command -v chromium || true)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
seconds() { calc "$2 - $1"; }

cat >"$work/model.json" <<'JSON'
{"n_layers": 32, "d_model": 256, "n_heads": 32, "d_head": 8, "d_mlp": 512, "n_ctx": 128, "d_vocab": 100, "seed": 1}
JSON
"$mechlens" init --config "$work/model.json" --out "$work/model.safetensors" >/dev/null
seq -s ' ' 1 128 | awk '{for (i = 1; i <= NF; i++) printf "%d ", $i % 97 + 1; print ""}' >"$work/prompt.txt"

t0=$(now)
"$mechlens" record --checkpoint "$work/model.safetensors" --tokens-file "$work/prompt.txt" --hooks pattern \
  --out "$work/rec.h5" --quiet >/dev/null
t1=$(now)
"$mechlens" view "$work/rec.h5" --out "$work/page.html" >/dev/null
t2=$(now)
raw=$((32 * 32 * 128 * 128 * 4))
page=$(stat -c %s "$work/page.html")
echo "view bench: 32 layers x 32 heads x 128 tokens, one prompt"
printf "  page size        %6.1f MB   (raw float32 maps %.1f MB: %.2fx)\n" "$(calc "$page / 1000000")" \
  "$(calc "$raw / 1000000")" "$(calc "$page / $raw")"
printf "  write the page   %6.2f s    (record the same maps to HDF5: %.2f s; ratio %.2fx)\n" \
  "$(seconds "$t1" "$t2")" "$(seconds "$t0" "$t1")" "$(calc "($t2 - $t1) / ($t1 - $t0)")"
if [ -n "$browser" ]; then
  echo '<!DOCTYPE html><html><body>empty</body></html>' >"$work/empty.html"
  load() {
    "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
      --user-data-dir="$work/profile" --dump-dom "file://$1" >"$work/dom" 2>/dev/null
  }
  load "$work/empty.html"  # warm the browser's files
  t3=$(now); load "$work/empty.html"; t4=$(now); load "$work/page.html"; t5=$(now)
  grep -q 'data-ready="true"' "$work/dom" || { echo "the page did not render"; exit 1; }
  printf "  drawn in Chromium %5.2f s    (an empty page: %.2f s; ratio %.1fx)\n" "$(seconds "$t4" "$t5")" \
    "$(seconds "$t3" "$t4")" "$(calc "($t5 - $t4) / ($t4 - $t3)")"
else
  echo "  chromium not installed: browser timing skipped (scripts/setup_browser.sh)"
fi
