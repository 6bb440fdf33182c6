/**
 * The native addon's contract (native/src/*.cc implements it; built to native/build/Release/cmemu.node).
 *
 * One `NativeCpu` is one Unicorn 2.1 engine opened as a real Cortex-M3
 * (UC_ARCH_ARM, UC_MODE_THUMB, then UC_CPU_ARM_CORTEX_M3 before anything else), in virtual-TLB
 * mode with a TLB-fill hook (identity map; EXEC withheld from data pages and from the v7-M
 * execute-never regions, granted per page on first fetch), and no block hook: the addon wraps
 * the exit check Unicorn calls at every translated block's start (native/src/exit_check.cc),
 * where it counts executed instructions exactly in runs with an instruction limit and stops at
 * the limit or on a stop request. Runs without a limit (real time) count nothing.
 * No JavaScript runs per instruction or per block: JS runs at MMIO accesses (one call per access)
 * and when `run()` returns with a stop reason.
 */
import { loadAddonModule } from './addon.js';
import type { PosixApi } from './posix.js';

/** Why `run()` returned. */
export const enum Stop {
  /** The instruction limit (absolute icount) was reached. */
  Limit = 0,
  /** `requestStop()` (from JS, from an MMIO handler, or another thread) took effect. */
  Requested = 1,
  /** The host-time deadline given to `run()` passed (real-time mode). */
  HostDeadline = 2,
  /** A watched fd became readable (see `watchFd`); `takeEvents()` says which. */
  External = 3,
  /** UC_HOOK_INTR fired: `info.intno` (2 = SVC, PC after it; 7 = BKPT, PC at it; 8 = exception return, PC = EXC_RETURN & ~1; 3 = prefetch abort). */
  Interrupt = 4,
  /** WFI executed (PC after it). */
  Wfi = 5,
  /** WFE executed (PC after it). */
  Wfe = 6,
  /** Undefined / invalid instruction at PC (UDF, BX to an even address, ...). */
  InvalidInsn = 7,
  /**
   * A data access to unmapped memory or one the TLB hook refused: a store to read-only memory, or
   * an unprivileged (Thread mode, CONTROL.nPRIV = 1) load or store on the Private Peripheral Bus
   * 0xE0000000-0xE00FFFFF (a precise BusFault on ARMv7-M; see `setUserSetMPend` for STIR).
   * info.address = the exact address (the first byte accessed on the refused page), access, size
   * (of each access). PC at the faulting instruction, which has not completed; icount exact.
   */
  MemFault = 8,
  /** An instruction fetch that failed: from unmapped memory, MMIO or an execute-never region of the default memory map (info.xn). info.address = the fetch address. */
  FetchFault = 9,
  /** UDIV/SDIV by zero with the divide trap enabled (PC at the divide). */
  DivByZero = 10,
  /** A JS MMIO handler threw: the error is rethrown by the wrapper. */
  HandlerError = 11,
  /** uc_emu_start returned an error not covered above: info.ucError holds it. */
  EngineError = 12,
  /**
   * An unaligned access that ARMv7-M faults (UsageFault UNALIGNED): with CCR.UNALIGN_TRP on
   * (`setUnalignedTrap`), any halfword/word load or store, including each word of LDRD/STRD/LDM/STM/
   * PUSH/POP; whatever the trap says, LDREX/LDREXH (and STREX* with an armed monitor).
   * PC at the instruction, which has not run (nothing written, no writeback, ITSTATE its own);
   * icount exact. info.address/access/size: the first unaligned access.
   */
  Unaligned = 13,
  /**
   * The MPU (see `setMpu`) refused a guest access: a load or store (info.access Read/Write,
   * info.address = the first refused byte, exact also inside a 1 KiB page that a small region or
   * a subregion cuts; size = of each access) or an instruction fetch (access Fetch, address = the
   * fetch address). PC at the faulting instruction (for a fetch: the target), which has not
   * completed (LDM/STM/PUSH: words before the refused one may have been transferred, as v7-M
   * allows); icount exact. A MemManage fault: DACCVIOL with MMFAR, or IACCVIOL.
   * Known gap: a refused access on such a cut page inside an IT block stops only at the end of
   * the IT block (see docs/unicorn.md, "The MPU").
   */
  MpuFault = 14,
  /** A breakpoint (setBreakpoints) was reached: PC = info.address, the instruction not executed. */
  Breakpoint = 15,
  /** Step mode (setStepMode): one instruction ran and the run stopped before the next. */
  Step = 16,
  /**
   * A watched range (setWatchpoints) was accessed: watchInfo() says where and how. On RAM the
   * access is done and PC is still at the accessing instruction (watchInfo().pc; complete it with one
   * step, watchpoints suppressed); on a device the run stopped at the next block.
   */
  Watchpoint = 17,
}

export const enum Access {
  Read = 0,
  Write = 1,
  Fetch = 2,
}

export interface StopInfo {
  reason: Stop;
  /** For Interrupt. */
  intno: number;
  /** For MemFault / FetchFault / Unaligned: the faulting address. */
  address: number;
  /** For MemFault / Unaligned: read or write. */
  access: Access;
  /** For MemFault / Unaligned: access size in bytes. */
  size: number;
  /** For FetchFault: the address is in an execute-never region of the default memory map (MemManage IACCVIOL); else nothing is there to fetch (BusFault IBUSERR). */
  xn: boolean;
  /** For EngineError: the uc_err code and its text. */
  ucError: number;
  ucErrorText: string;
}

/** Unicorn register ids used by cmemu (values from unicorn/arm.h, Unicorn 2.1). */
export const enum Reg {
  R0 = 66, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, R11, R12,
  SP = 12, LR = 10, PC = 11,
  APSR_NZCV = 2,
  IPSR = 114, MSP, PSP, CONTROL, IAPSR, EAPSR, XPSR, EPSR, IEPSR, PRIMASK, BASEPRI, BASEPRI_MAX, FAULTMASK,
}

export interface NativeCpu {
  /** Read several registers at once (Unicorn ids), as unsigned 32-bit values. */
  readRegs(ids: readonly number[]): number[];
  /**
   * Write several registers at once. After IPSR/XPSR/CONTROL writes the addon refreshes Unicorn's cached hflags itself.
   * CONTROL is written as by MSR: in unprivileged Thread mode nPRIV cannot be cleared (write XPSR with IPSR != 0 first).
   */
  writeRegs(ids: readonly number[], values: readonly number[]): void;
  /**
   * The same without JS arrays (exception entry and return): registers `ids` into `out` (at least as
   * long). With `privileged`, registers Unicorn's MRS helper hides from unprivileged Thread mode (MSP,
   * PSP, the masks) are read through a pass in Handler mode with nPRIV dropped, then nPRIV is put back;
   * CONTROL is reported as it was.
   */
  readRegsInto(ids: Int32Array, out: Uint32Array, privileged?: boolean): void;
  /** PRIMASK | FAULTMASK << 1 | BASEPRI << 8 | IPSR << 16, read as readRegsInto's privileged pass does. */
  masks(): number;
  /** writeRegs from typed arrays: values[i] (values at least as long as ids) to ids[i]. */
  writeRegsFrom(ids: Int32Array, values: Uint32Array): void;
  /**
   * Exception entry's core half (native/src/exceptions.cc): push the context (r0-r3, r12, lr, the
   * return address, xPSR) on the stack in use, realigned under `ExcFlags.StkAlign` with xPSR bit 9
   * saying so, LR = EXC_RETURN for that context; or with `ExcFlags.NoStack` leave the stack pointers
   * and set LR = `lr`; then fetch the vector at `vectorAddress` and enter Handler mode (MSP active,
   * nPRIV kept, xPSR = T | exc, PC = vector). The return address is `returnAddress` with
   * `ExcFlags.ReturnGiven`, else PC. Returns the vector, or -1 (a frame word not writable) / -2 (the
   * vector not readable), with no register changed.
   */
  excEnter(exc: number, vectorAddress: number, returnAddress: number, lr: number, flags: number): number;
  /**
   * Exception return's core half, in Handler mode after the model's checks: pop the frame from MSP
   * (or PSP with `ExcReturnFlags.Psp`), step that SP over it (and the realignment word under
   * `ExcReturnFlags.StkAlign` when xPSR bit 9 says so), then Thread mode (`ExcReturnFlags.Thread`:
   * IPSR 0, SPSEL = the PSP flag) or Handler mode with the popped IPSR; nPRIV kept. Returns the popped
   * xPSR, or -1 (the frame not readable; no register changed).
   */
  excReturn(flags: number): number;
  /** The last excEnter's return address, or the last excReturn's popped PC. */
  excAddress(): number;
  /**
   * `fn(pc)` is offered every exception return during run() (the engine stopped at it, PC =
   * EXC_RETURN & ~1, icount exact) and answers 0 (not done: run() returns Interrupt 8), 1 (done:
   * the run carries on from the new PC within its limit and deadline) or 2 (done: run() returns
   * Requested). A throw ends the run as an MMIO handler's does. null: every return is a stop.
   */
  setReturnCallback(fn: ((pc: number) => number) | null): void;
  readReg(id: number): number;
  writeReg(id: number, value: number): void;

  /** Map host memory (from `allocHostMemory` or an mmapped shared region) at a guest address. Both 1 KiB aligned. The same buffer may be mapped at several addresses (aliases). */
  mapHostMemory(address: number, buffer: ArrayBuffer, offset: number, size: number, writable: boolean): void;
  /** Map an MMIO window: guest accesses call the handlers from `setMmioHandlers` with this region id. */
  mapMmio(address: number, size: number, region: number): void;
  unmap(address: number, size: number): void;
  /** Copy guest memory out / in (through Unicorn, so MMIO is not involved: mapped memory only). */
  memRead(address: number, length: number): Uint8Array;
  memWrite(address: number, data: Uint8Array): void;
  /** memRead into `out` (out.byteLength bytes), without a new buffer. */
  memReadInto(address: number, out: Uint8Array): void;

  /** One JS function per direction for all MMIO regions; called synchronously from inside run(). */
  setMmioHandlers(
    read: (region: number, offset: number, size: number) => number,
    write: (region: number, offset: number, size: number, value: number) => void,
  ): void;

  /**
   * Run from the current PC until a stop reason. `limit` is an absolute instruction count (run stops once
   * icount() >= limit, at a block boundary: it may overshoot by at most one block; Number.MAX_SAFE_INTEGER
   * or more: no limit, and nothing is counted); `hostDeadlineNs` is an
   * absolute CLOCK_MONOTONIC time (ns) after which the run stops with HostDeadline (0 = none).
   * Returns the reason; details via stopInfo().
   */
  run(limit: number, hostDeadlineNs: number): Stop;
  stopInfo(): StopInfo;
  /** stopInfo().intno alone (the interrupt of the last Stop.Interrupt), without making an object. */
  stopIntno(): number;
  /**
   * Instructions executed so far in runs that count: those given a `limit` below
   * Number.MAX_SAFE_INTEGER (exact: blocks cut short by a fault or stop are corrected). A run
   * with no limit (real time) adds nothing.
   */
  icount(): number;
  /** Adjust the instruction counter (e.g. when the machine resets); rarely needed. */
  setIcount(value: number): void;
  /** Stop the current run at the next block boundary. Safe from JS at any time, including inside MMIO handlers; if no run is in progress, the next run returns Requested at once. */
  requestStop(): void;

  /**
   * A pending exception is masked only by PRIMASK/BASEPRI/FAULTMASK: stop (Requested) as soon as the guest
   * lowers its masks below `groupPriority` (MSR/CPSIE do not reach JS otherwise). `prigroupMask` clears the
   * subpriority bits of BASEPRI (e.g. 0xE0 with 3 priority bits and PRIGROUP 0..4). -1 disables the watch.
   */
  setMaskWatch(groupPriority: number, prigroupMask: number): void;

  /** Addresses of UDIV/SDIV instructions to guard (found by scanning loaded code), and whether CCR.DIV_0_TRP is set. */
  setDivideSites(addresses: readonly number[]): void;
  /**
   * Replace the breakpoints: a run stops (Stop.Breakpoint) before executing an instruction at one
   * of these addresses (bit 0 ignored). A run that resumes from a breakpoint stop executes that
   * instruction first; one that starts at a breakpoint for another reason (an exception entry into
   * a handler, PC set by a debugger) stops at once. Each is a code hook bounded to its address:
   * nothing else gets slower. Not while running.
   */
  setBreakpoints(addresses: readonly number[]): void;
  /**
   * Step mode: every run executes one instruction and stops before the next (Stop.Step). Turning it
   * on or off retranslates all code; nothing is paid while it is off. `suppressWatch`: watchpoints
   * do not fire (completing an instruction that hit one). Not while running.
   */
  setStepMode(on: boolean, suppressWatch?: boolean): void;
  /** Replace the watchpoints: memory hooks bounded to each range (kind 1 write, 2 read, 3 both). Not while running. */
  setWatchpoints(list: readonly { address: number; length: number; kind: number }[]): void;
  /**
   * QEMU-style execution traces (-d in_asm, exec, cpu), written natively to `path` (appended) or
   * stderr: a block hook installed only while one is on. `symbols`: [address, size, name] of
   * functions, for the block names. All off: the hook is removed. Not while running.
   */
  setTrace(opts: { inAsm: boolean; exec: boolean; cpu: boolean; path: string | null }, symbols?: readonly (readonly [number, number, string])[]): void;
  /** Write out what the trace has buffered. */
  flushTrace(): void;
  /** The last watchpoint hit (Stop.Watchpoint). */
  watchInfo(): { address: number; size: number; write: boolean; pc: number; mmio: boolean };
  setDivideTrap(enabled: boolean): void;
  /**
   * CCR.UNALIGN_TRP. Off (the default) costs nothing and unaligned halfword/word accesses work.
   * On, every data access goes through a native memory hook (slow: ~15x on load/store-heavy code)
   * and an unaligned one stops the run with `Stop.Unaligned`. Callable from inside an MMIO handler
   * (the guest writing CCR): it then takes effect at the next translated block (an ISB after the
   * CCR write ends the block) without ending the run; turning it off takes effect at once.
   */
  setUnalignedTrap(enabled: boolean): void;
  /**
   * CCR.USERSETMPEND: when set, unprivileged word stores (single-register STR forms) to STIR
   * 0xE000EF00 are performed (through the MMIO write handler) instead of faulting; every other
   * unprivileged PPB access still faults. Safe to call from an MMIO handler.
   */
  setUserSetMPend(enabled: boolean): void;

  /**
   * The PMSAv7 MPU as programmed (MPU_CTRL: ENABLE 1, HFNMIENA 2, PRIVDEFENA 4; region n's RBAR and
   * RASR at index n). Applied to every guest load, store and instruction fetch from then on (the
   * TLB is flushed at once when anything that matters changed), with the privilege of the access
   * (Thread mode with CONTROL.nPRIV is unprivileged) and, with HFNMIENA clear, not at all while the
   * requested execution priority is negative (see `setHfNmiActive`; FAULTMASK is read natively).
   * Semantics as QEMU 7.2's get_phys_addr_pmsav7: the highest-numbered enabled region containing
   * the address wins, unless its subregion is disabled; SIZE 0 and bases not aligned to the size
   * make a region ignored; with no region, privileged accesses get the default map if PRIVDEFENA,
   * others fault; 0xE0000000 up is never executable; the PPB (0xE0000000-0xE00FFFFF) is never
   * subject to the MPU. The default map's execute-never regions always apply. Refusals stop the
   * run with `Stop.MpuFault`. Safe to call from an MMIO handler (the guest programming the MPU).
   * Pages that no region edge cuts cost nothing; every data access to a 1 KiB page that a region
   * or subregion edge cuts goes through a native check (about an MMIO call's cost).
   */
  setMpu(ctrl: number, rbar: Uint32Array | readonly number[], rasr: Uint32Array | readonly number[]): void;
  /** Whether HardFault or NMI is active (with FAULTMASK: a negative requested priority, which exempts accesses from the MPU unless HFNMIENA). Call between runs when it changes. */
  setHfNmiActive(active: boolean): void;

  /** Forget translated code in [address, address+size) (code rewritten behind Unicorn's back). */
  invalidateCode(address: number, size: number): void;

  /** Watch an fd (eventfd) from the native watcher thread: when readable it is drained (8-byte read), the token recorded, a running CPU stopped (External) and `onEvent` called on the JS thread. */
  watchFd(fd: number, token: number): void;
  unwatchFd(fd: number): void;
  /** Tokens of the fds that fired since the last call (each once). */
  takeEvents(): number[];
  /** Called on the JS thread (via the event loop) when a watched fd fires while JS is idle. */
  setEventCallback(cb: (() => void) | null): void;

  /**
   * Block the calling thread until the CLOCK_MONOTONIC time `deadlineNs`, or until a watched fd fires
   * (returns true then). For short idle waits: event-loop timers are about a millisecond too coarse.
   */
  sleepUntil(deadlineNs: number): boolean;

  /**
   * The guest sleeps: block the calling thread until the CLOCK_MONOTONIC time `deadlineNs`
   * (Infinity: none), until a watched fd fires, or until Node's event loop has work (one of its
   * fds is ready or its next timer is due; every 50 ms at the latest). Returns 0 (deadline),
   * 1 (a watched fd fired: takeEvents()), 2 (give the event loop a turn, then call again with
   * `afterTurn` true: pending immediates and idle handles then no longer count as work).
   */
  idleWait(deadlineNs: number, afterTurn?: boolean): 0 | 1 | 2;

  /**
   * Host time lost to stalls inside runs so far (ns): gaps of over 0.2 ms between two of the run's
   * clock polls (every 1024 blocks and after every MMIO handler), which guest execution cannot take.
   * Host deadlines given to run() are measured net of stalls during that run.
   */
  stolenNs(): number;

  close(): void;
}

/** The addon's whole contract: the CPU session here, the POSIX plumbing (sockets, fd passing, shared memory, eventfds, poll) in src/native/posix.ts. */
export interface NativeAddon extends PosixApi {
  NativeCpu: new () => NativeCpu;
  /** Zeroed, page-aligned host memory (anonymous mmap), exposed as an external ArrayBuffer. */
  allocHostMemory(size: number): ArrayBuffer;
  /** Give the pages of a buffer from allocHostMemory back to the system now (it reads as zeros after). */
  releaseHostMemory(buffer: ArrayBuffer): void;
  /** CLOCK_MONOTONIC now, in ns. */
  monotonicNs(): number;
  /** Unicorn's version string, e.g. "2.1.4". */
  unicornVersion(): string;
  /** Unicorn's own register ids by name (R0..R12, SP, LR, PC, APSR_NZCV, IPSR, MSP, ...): a test checks `Reg` against it. */
  registerIds: Record<string, number>;
  /** The native `Stop` enum by name (native/src/cpu.h): a test checks `Stop` against it. */
  stopReasons: Record<string, number>;
}

/** Load the addon (built by `make native`). */
export function loadNative(): NativeAddon {
  return loadAddonModule() as NativeAddon;
}

/** `excEnter` flags. */
export const enum ExcFlags {
  StkAlign = 1,
  ClearT = 2,
  NoStack = 4,
  ReturnGiven = 8,
}

/** `excReturn` flags. */
export const enum ExcReturnFlags {
  Psp = 1,
  Thread = 2,
  StkAlign = 4,
}
