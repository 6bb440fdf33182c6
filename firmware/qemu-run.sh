#!/usr/bin/env bash
# Run one firmware program under qemu-system-arm (or $QEMU; timeout $QEMU_TIMEOUT s, default 60).
#   ./qemu-run.sh [--icount] [--mux] <prog> [board]      (board: $BOARD, default mps2-an385)
# UART0 goes to stdout, the semihosting console (SYS_WRITEC/SYS_WRITE0) to stderr; the exit
# status is QEMU's, i.e. the program's exit code. stdin feeds UART0 RX, e.g.
#   printf 'abc\n' | ./qemu-run.sh uart_echo
# By default the serial port is connected to stdio directly (-monitor none -serial stdio).
# --mux uses plain -nographic instead (UART0 and the monitor multiplexed on stdio, as the
# cmemu tests invoke it); with QEMU 7.2 that loses piped input now and then (README.md).
# --icount runs in icount mode with the board's shift (./qemu-run.sh --icount-shift <board>).
# Runs build/<board>/<prog>.elf, or <prog> itself if it is a path to an ELF file.
set -euo pipefail
cd "$(dirname "$0")"

# icount shift per board: 2^shift ns of virtual time per instruction. mps2-an385: 7 (128 ns,
# ~7.8 MIPS); lm3s6965evb: 6 (64 ns), as Zephyr's qemu_cortex_m3 board runs it.
icount_shift() {
  case $1 in
    mps2-an385) echo 7 ;;
    lm3s6965evb) echo 6 ;;
    *) echo "qemu-run.sh: no icount shift known for board '$1'" >&2; return 1 ;;
  esac
}
if [ "${1:-}" = --icount-shift ]; then icount_shift "${2:-${BOARD:-mps2-an385}}"; exit; fi

icount=0
serial=(-monitor none -serial stdio)
while [ $# -gt 0 ]; do
  case $1 in
    --icount) icount=1; shift ;;
    --mux) serial=(); shift ;;
    *) break ;;
  esac
done
prog=$1
board=${2:-${BOARD:-mps2-an385}}
icount_args=()
[ $icount = 1 ] && icount_args=(-icount "shift=$(icount_shift "$board"),align=off,sleep=off")
elf=build/$board/$prog.elf
case $prog in */*|*.elf) elf=$prog ;; esac
exec timeout "${QEMU_TIMEOUT:-60}" "${QEMU:-qemu-system-arm}" -M "$board" -cpu cortex-m3 -nographic \
  "${serial[@]}" -semihosting-config enable=on,target=native "${icount_args[@]}" \
  -kernel "$elf"
