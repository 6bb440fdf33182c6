/**
 * What each exception number Unicorn 2.1.4 (QEMU 5.0's EXCP_*) can raise through UC_HOOK_INTR
 * means on a Cortex-M3, so that no guest instruction can end the emulator: every one is an
 * architectural fault (or, for the asynchronous ones QEMU's M-profile core never raises here, a
 * no-op). SVC (2), BKPT (7), exception return (8) and prefetch abort (3) are handled by the
 * machine itself.
 */
import { CFSR } from './exception-controller.js';

export const EXCP = {
  UDEF: 1, SWI: 2, PREFETCH_ABORT: 3, DATA_ABORT: 4, IRQ: 5, FIQ: 6, BKPT: 7, EXCEPTION_EXIT: 8,
  KERNEL_TRAP: 9, HVC: 11, HYP_TRAP: 12, SMC: 13, VIRQ: 14, VFIQ: 15, SEMIHOST: 16, NOCP: 17,
  INVSTATE: 18, STKOF: 19, LAZYFP: 20, LSERR: 21, UNALIGNED: 22, DIVBYZERO: 23,
} as const;

export type InterruptAction =
  | { kind: 'usagefault'; cfsr: number; what: string }
  | { kind: 'busfault'; what: string }
  | { kind: 'ignore'; what: string };

/**
 * Coprocessor space on ARMv7-M (A5.3.1: hw1 = 111x 11xx xxxx xxxx). A5.3.18 allocates op1
 * (hw1[9:4]) 0xxxxx except 00000x (STC/LDC/MCRR/MRRC) and 10xxxx (CDP/MCR/MRC): those are
 * coprocessor instructions, and with no coprocessor present (a Cortex-M3 has none, CP0-CP15) each
 * one is a UsageFault NOCP (Coproc_Accepted() is FALSE -> GenerateCoprocessorException()), for
 * every coprocessor number. op1 = 00000x and 11xxxx are UNDEFINED: UsageFault UNDEFINSTR
 * (QEMU 7.2 and Unicorn give NOCP for 00000x: a deliberate difference, README).
 * Returns undefined when hw1 is not in coprocessor space.
 */
export function coprocessorFault(hw1: number): 'nocp' | 'undef' | undefined {
  if ((hw1 & 0xec00) !== 0xec00) return undefined;
  const op1 = (hw1 >> 4) & 0x3f;
  if ((op1 & 0x3e) === 0 || (op1 & 0x30) === 0x30) return 'undef';
  return 'nocp';
}

/** The fault for a UC_HOOK_INTR number other than 2, 3, 7 and 8; hw1: the halfword at PC. */
export function interruptAction(intno: number, hw1: number): InterruptAction {
  const insn = `0x${hw1.toString(16)}`;
  switch (intno) {
    case EXCP.NOCP: {
      const c = coprocessorFault(hw1);
      if (c === 'undef') return { kind: 'usagefault', cfsr: CFSR.UNDEFINSTR, what: `undefined instruction ${insn} (coprocessor space)` };
      return { kind: 'usagefault', cfsr: CFSR.NOCP, what: `coprocessor instruction ${insn} (no coprocessor)` };
    }
    case EXCP.INVSTATE:
      return { kind: 'usagefault', cfsr: CFSR.INVSTATE, what: 'invalid state' };
    case EXCP.UNALIGNED:
      return { kind: 'usagefault', cfsr: CFSR.UNALIGNED, what: `unaligned access by ${insn}` };
    case EXCP.DIVBYZERO:
      return { kind: 'usagefault', cfsr: CFSR.DIVBYZERO, what: 'integer divide by zero' };
    case EXCP.DATA_ABORT:
      return { kind: 'busfault', what: `data abort at ${insn}` };
    case EXCP.IRQ:
    case EXCP.FIQ:
    case EXCP.VIRQ:
    case EXCP.VFIQ:
      return { kind: 'ignore', what: `asynchronous CPU exception ${intno} ignored` };
    default:
      // UDEF, HVC, SMC, the v8-M STKOF/LSERR, LAZYFP, SEMIHOST, anything newer: instructions a
      // Cortex-M3 does not have.
      return { kind: 'usagefault', cfsr: CFSR.UNDEFINSTR, what: `undefined instruction ${insn} (CPU exception ${intno})` };
  }
}
