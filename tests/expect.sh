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
