/**
 * Durations and sizes as users write them: '10 ms', '2 s', '10us', '1.5 ms', '500 ns' (or a number
 * of nanoseconds); '4M', '64 KiB', '1 MiB', '4096' (or a number of bytes).
 */
import { UsageError } from './errors.js';

export type Duration = number | string;
export type Size = number | string;

const TIME_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, min: 60e9 };

/** A duration in whole nanoseconds. */
export function parseDuration(d: Duration, what = 'duration'): number {
  if (typeof d === 'number') {
    if (!Number.isFinite(d) || d < 0) throw new UsageError(`${what}: ${d} is not a duration (nanoseconds >= 0)`);
    return Math.round(d);
  }
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ns|us|µs|ms|s|min)\s*$/.exec(d);
  if (!m) throw new UsageError(`${what}: '${d}' is not a duration (e.g. '10 ms', '2 s', '10 us')`);
  return Math.round(parseFloat(m[1]!) * TIME_UNITS[m[2]!]!);
}

/** How a duration in ns reads ('2 s', '10 ms', '1.5 us'). */
export function formatDuration(ns: number): string {
  for (const [u, f] of [['s', 1e9], ['ms', 1e6], ['us', 1e3]] as const) {
    if (ns >= f) return `${+(ns / f).toFixed(3)} ${u}`;
  }
  return `${ns} ns`;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };

/** A size in bytes. */
export function parseSize(s: Size, what = 'size'): number {
  if (typeof s === 'number') {
    if (!Number.isSafeInteger(s) || s < 0) throw new UsageError(`${what}: ${s} is not a size in bytes`);
    return s;
  }
  const m = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(s);
  const f = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || f === undefined) throw new UsageError(`${what}: '${s}' is not a size (e.g. '4M', '64 KiB', 4096)`);
  return parseInt(m[1]!, 10) * f;
}
