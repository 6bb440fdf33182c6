#!/usr/bin/env bash
# Verify every program of a board under qemu-system-arm, the way the cmemu tests run cmemu:
#   - real-time mode: exits with its expected code and prints "PASS: <prog>"
#   - icount mode (-icount shift=N,align=off,sleep=off with the board's N: 7 on mps2-an385,
#     6 on lm3s6965evb), twice: same exit code, identical stdout both times, equal byte for
#     byte to expected/<board>/<prog>.txt
#   - stdout identical with plain -nographic and with -monitor none -serial stdio
#   - stderr never matches /error|lockup/i
# BOARD=<board> ./qemu-check.sh [--update] [prog...]   (BOARD defaults to mps2-an385; --update
# rewrites expected/<board>/ from the icount run). Without programs: the board's whole list,
# from the Makefile (make BOARD=<board> list). Builds nothing: run make first.
set -uo pipefail
cd "$(dirname "$0")"
board=${BOARD:-mps2-an385}
update=0
if [ "${1:-}" = --update ]; then update=1; shift; fi
progs=("$@")
if [ ${#progs[@]} -eq 0 ]; then
  read -r -a progs <<< "$(make --no-print-directory -s BOARD="$board" list)"
  [ ${#progs[@]} -gt 0 ] || { echo "qemu-check.sh: no programs for board $board" >&2; exit 1; }
fi
for p in "${progs[@]}"; do
  [ -f "build/$board/$p.elf" ] || { echo "qemu-check.sh: build/$board/$p.elf not built (make -C firmware BOARD=$board one)" >&2; exit 1; }
done
declare -A exit_code=([semihosting]=3)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "  FAILED: $*"; failures=$((failures + 1)); }

run() {   # run <name> <input file> <qemu-run.sh options...>
  local name=$1 input=$2; shift 2
  ./qemu-run.sh "$@" < "$input" > "$tmp/$name.out" 2> "$tmp/$name.err"
  echo $? > "$tmp/$name.rc"
  if grep -qiE 'error|lockup' "$tmp/$name.err"; then fail "$name: stderr: $(head -3 "$tmp/$name.err")"; fi
}

for p in "${progs[@]}"; do
  want=${exit_code[$p]:-0}
  input=/dev/null
  [ -f "tests/$p.input" ] && input=tests/$p.input
  [ -f "tests/$board/$p.input" ] && input=tests/$board/$p.input
  echo "$p (expected exit $want)"
  # Programs reading stdin only work reliably without QEMU's stdio multiplexer.
  mux=--mux
  [ "$input" != /dev/null ] && mux=

  run rt "$input" $mux "$p" "$board"
  [ "$(cat "$tmp/rt.rc")" = "$want" ] || fail "real-time: exit $(cat "$tmp/rt.rc")"
  grep -q "^PASS: $p\$" "$tmp/rt.out" || fail "real-time: no 'PASS: $p'"

  run ic1 "$input" --icount $mux "$p" "$board"
  run ic2 "$input" --icount $mux "$p" "$board"
  run ic3 "$input" --icount "$p" "$board"
  for r in ic1 ic2 ic3; do
    [ "$(cat "$tmp/$r.rc")" = "$want" ] || fail "icount ($r): exit $(cat "$tmp/$r.rc")"
  done
  cmp -s "$tmp/ic1.out" "$tmp/ic2.out" || fail "icount: stdout differs between two runs"
  cmp -s "$tmp/ic1.out" "$tmp/ic3.out" || fail "icount: stdout differs with -monitor none -serial stdio"
  if [ $update = 1 ]; then
    mkdir -p "expected/$board"
    cp "$tmp/ic1.out" "expected/$board/$p.txt"
    echo "  wrote expected/$board/$p.txt"
  elif [ -f "expected/$board/$p.txt" ]; then
    cmp -s "$tmp/ic1.out" "expected/$board/$p.txt" || fail "icount: stdout differs from expected/$board/$p.txt"
  else
    fail "no expected/$board/$p.txt"
  fi
done
if [ $failures -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "$board: all ${#progs[@]} programs OK"
