#!/usr/bin/env bash
# Run one firmware program under qemu-system-arm (or $QEMU; timeout $QEMU_TIMEOUT s, default 60).
#   ./qemu-run.sh [--icount] [--mux] <prog> [board]
# UART0 goes to stdout, the semihosting console (SYS_WRITEC/SYS_WRITE0) to stderr; the exit
# status is QEMU's, i.e. the program's exit code. stdin feeds UART0 RX, e.g.
#   printf 'abc\n' | ./qemu-run.sh uart_echo
# By default the serial port is connected to stdio directly (-monitor none -serial stdio).
# --mux uses plain -nographic instead (UART0 and the monitor multiplexed on stdio, as the
# cmemu tests invoke it); with QEMU 7.2 that loses piped input now and then (README.md).
set -euo pipefail
cd "$(dirname "$0")"
icount=()
serial=(-monitor none -serial stdio)
while [ $# -gt 0 ]; do
  case $1 in
    --icount) icount=(-icount shift=7,align=off,sleep=off); shift ;;
    --mux) serial=(); shift ;;
    *) break ;;
  esac
done
prog=$1
board=${2:-mps2-an385}
exec timeout "${QEMU_TIMEOUT:-60}" "${QEMU:-qemu-system-arm}" -M "$board" -cpu cortex-m3 -nographic \
  "${serial[@]}" -semihosting-config enable=on,target=native "${icount[@]}" \
  -kernel "build/$board/$prog.elf"
