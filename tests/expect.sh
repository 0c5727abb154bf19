# Shared by the shell test scripts: `expect NAME EXIT_CODE REGEX -- command...` runs the command and
# counts a pass when it exits with EXIT_CODE and its combined output matches REGEX.
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*" | head -20; }
expect() {
  local name=$1 code=$2 regex=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$code" ] && grep -Eq -- "$regex" <<<"$out"; then ok; else bad "$name: exit $rc (expected $code): $(head -c 800 <<<"$out")"; fi
}
# Debian's Python (with python3-h5py and numpy); a virtualenv's python3 earlier on PATH may lack them.
python=/usr/bin/python3
[ -x "$python" ] || python=python3
# Headless Chromium where installed ($browser empty otherwise): `run_page PAGE HASH` prints the DOM
# after the page's scripts ran (file://PAGE#HASH), with the browser's console messages in PAGE.log.
browser=$(command -v chromium || command -v chromium-browser || true)
run_page() {
  timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-sync \
    --disable-component-update --no-first-run --user-data-dir="${work:-/tmp}/profile" --enable-logging=stderr --v=0 \
    --virtual-time-budget=3000 --dump-dom "file://$1#$2" 2>"$1.log"
}
