/**
 * Device state for snapshots: what a device's `saveState()` returns and `loadState()` takes back.
 *
 * A device's state is its own data fields, captured by `captureState` field by field: numbers,
 * booleans, strings, bigints, null/undefined, typed arrays, Sets of primitives, arrays and plain
 * data objects of those, and nested parts that have their own `saveState`/`loadState` (a Ptimer,
 * the NVIC inside the SCS, a dual timer's modules). What is not state is skipped, and the skip is
 * reported (see `skippedFields`): functions and callbacks, plain objects or arrays holding any
 * function (IRQ lines, serial ports, option bags with hooks), and class instances without
 * `saveState` (the clock, loggers, links: wiring the machine gives every device again). The
 * clock's timers are restored by the scheduler (src/time/clock.ts), not by their owners.
 *
 * The result is JSON-safe: bigints, typed arrays, Sets and non-finite numbers are tagged
 * (`{ $b }`, `{ $t, d }`, `{ $set }`, `{ $n }`), so a snapshot file can hold it as text.
 */

/** JSON-safe state of one device or part. */
export type DeviceState = { [field: string]: unknown };

/** What a device or a nested part implements to be snapshotted. */
export interface Stateful {
  saveState(): DeviceState;
  loadState(s: DeviceState): void;
}

/** Fields never captured whatever they hold: identity, host-side settings, diagnostics. */
const NEVER = new Set(['name', 'size', 'log', 'tracing', 'hostT0', 'guestErrorPrefix']);

type Typed = Uint8Array | Uint16Array | Uint32Array | Int8Array | Int16Array | Int32Array | Float64Array;
const TYPED: Record<string, new (n: number) => Typed> = {
  Uint8Array, Uint16Array, Uint32Array, Int8Array, Int16Array, Int32Array, Float64Array,
};

function isPlain(v: object): boolean {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function isStateful(v: unknown): v is Stateful {
  return typeof v === 'object' && v !== null && typeof (v as Stateful).saveState === 'function' && typeof (v as Stateful).loadState === 'function';
}

/** A plain object or array that holds a function somewhere: wiring (IRQ lines, ports, hooks), not state. */
function holdsFunction(v: unknown, depth = 0): boolean {
  if (typeof v === 'function') return true;
  if (typeof v !== 'object' || v === null || depth > 4) return false;
  if (Array.isArray(v)) return v.some((x) => holdsFunction(x, depth + 1));
  if (!isPlain(v)) return false;
  return Object.values(v).some((x) => holdsFunction(x, depth + 1));
}

const SKIP = Symbol('skip');

function encode(v: unknown, seen: Set<object>): unknown {
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) && !Object.is(v, -0) ? v : { $n: String(v) };
    case 'boolean':
    case 'string':
      return v;
    case 'bigint':
      return { $b: v.toString() };
    case 'undefined':
      return { $u: 1 };
    case 'function':
    case 'symbol':
      return SKIP;
  }
  if (v === null) return null;
  const o = v as object;
  if (ArrayBuffer.isView(o)) {
    const name = o.constructor.name;
    if (!(name in TYPED)) return SKIP;
    const b = Buffer.from(o.buffer, o.byteOffset, o.byteLength);
    return { $t: name, d: b.toString('base64') };
  }
  if (o instanceof Set) {
    const items = [...o];
    return items.every((x) => typeof x === 'number' || typeof x === 'string') ? { $set: items } : SKIP;
  }
  if (seen.has(o)) return SKIP; // a back reference (a part's parent): captured where it is owned
  if (isStateful(o)) return { $s: captureState(o, seen) };
  if (Array.isArray(o)) {
    if (holdsFunction(o)) return SKIP;
    const out: unknown[] = [];
    for (const x of o) {
      const e = encode(x, seen);
      if (e === SKIP) return SKIP;
      out.push(e);
    }
    return out;
  }
  if (isPlain(o)) {
    if (holdsFunction(o)) return SKIP;
    const out: DeviceState = {};
    for (const [k, x] of Object.entries(o)) {
      const e = encode(x, seen);
      if (e === SKIP) return SKIP;
      out[k] = e;
    }
    return out;
  }
  return SKIP; // a class instance without saveState: wiring
}

function decodeScalar(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const t = v as Record<string, unknown>;
  if ('$n' in t) return Number(t.$n);
  if ('$b' in t) return BigInt(t.$b as string);
  if ('$u' in t) return undefined;
  if ('$set' in t) return new Set(t.$set as unknown[]);
  if ('$t' in t) {
    const C = TYPED[t.$t as string];
    if (!C) throw new StateError(`unknown typed array ${String(t.$t)}`);
    const bytes = Buffer.from(t.d as string, 'base64');
    const a = new C(bytes.byteLength / (new C(0) as Typed).BYTES_PER_ELEMENT || 0);
    new Uint8Array(a.buffer).set(bytes);
    return a;
  }
  if (Array.isArray(v)) return v.map(decodeScalar);
  const out: DeviceState = {};
  for (const [k, x] of Object.entries(t)) out[k] = decodeScalar(x);
  return out;
}

/** A snapshot's state does not fit the device it is loaded into. */
export class StateError extends Error {}

/** Capture the data fields of `obj` (see the file comment). */
export function captureState(obj: object, seen = new Set<object>()): DeviceState {
  seen.add(obj);
  const out: DeviceState = {};
  for (const [k, v] of Object.entries(obj)) {
    if (NEVER.has(k)) continue;
    const e = encode(v, seen);
    if (e !== SKIP) out[k] = e;
  }
  return out;
}

/** The fields of `obj` that captureState leaves out (and why): the structure test checks them. */
export function skippedFields(obj: object): { field: string; kind: string }[] {
  const out: { field: string; kind: string }[] = [];
  const seen = new Set<object>([obj]);
  for (const [k, v] of Object.entries(obj)) {
    if (NEVER.has(k)) continue;
    if (encode(v, seen) !== SKIP) continue;
    const kind =
      typeof v === 'function' ? 'function' : typeof v === 'object' && v !== null ? (isPlain(v) || Array.isArray(v) ? 'wiring' : `instance of ${v.constructor.name}`) : typeof v;
    out.push({ field: k, kind });
  }
  return out;
}

/**
 * Put state captured by captureState back into `obj`, in place: typed arrays, arrays and Sets are
 * refilled (others may hold them), nested parts get their own loadState. A field the snapshot has
 * and the device lacks, or a typed array of another length, is a StateError.
 */
export function restoreState(obj: object, s: DeviceState, what: string): void {
  const target = obj as Record<string, unknown>;
  for (const [k, enc] of Object.entries(s)) {
    if (!(k in target)) throw new StateError(`${what}: the snapshot has a field '${k}' this device does not`);
    const cur = target[k];
    if (enc !== null && typeof enc === 'object' && '$s' in (enc as object)) {
      if (!isStateful(cur)) throw new StateError(`${what}.${k}: not a part with state here`);
      restoreState(cur, (enc as { $s: DeviceState }).$s, `${what}.${k}`);
      continue;
    }
    const v = decodeScalar(enc);
    if (ArrayBuffer.isView(cur) && ArrayBuffer.isView(v)) {
      if (cur.byteLength !== v.byteLength || cur.constructor !== v.constructor) throw new StateError(`${what}.${k}: ${v.constructor.name}(${v.byteLength} bytes) does not fit ${cur.constructor.name}(${cur.byteLength} bytes)`);
      new Uint8Array(cur.buffer, cur.byteOffset, cur.byteLength).set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    } else if (cur instanceof Set && v instanceof Set) {
      cur.clear();
      for (const x of v) cur.add(x);
    } else if (Array.isArray(cur) && Array.isArray(v) && Array.isArray(enc) && enc.some((e) => e !== null && typeof e === 'object' && '$s' in (e as object))) {
      if (cur.length !== v.length) throw new StateError(`${what}.${k}: ${v.length} parts in the snapshot, ${cur.length} here`);
      enc.forEach((e, i) => restoreState(cur[i] as object, (e as { $s: DeviceState }).$s, `${what}.${k}[${i}]`));
    } else if (Array.isArray(cur) && Array.isArray(v)) {
      cur.length = 0;
      cur.push(...v);
    } else {
      target[k] = v;
    }
  }
}
