/**
 * GDB Remote Serial Protocol framing: `$data#cs` packets, `+`/`-` acknowledgements, the 0x03
 * interrupt byte, and the binary escapes of X/vFlashWrite/qXfer. No I/O here: the server feeds
 * bytes in and writes what `encode` returns.
 */

export type RspEvent =
  | { kind: 'packet'; data: Buffer }
  /** A packet whose checksum did not match (answer '-', GDB resends). */
  | { kind: 'bad'; data: Buffer }
  | { kind: 'interrupt' }
  | { kind: 'ack' }
  | { kind: 'nak' };

/** Packets larger than this are refused (PacketSize in qSupported is well below). */
export const MAX_PACKET = 64 * 1024;

export class RspDecoder {
  private buf: Buffer = Buffer.alloc(0);

  /** Feed bytes; returns the complete events they finish, in order. */
  feed(chunk: Buffer): RspEvent[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: RspEvent[] = [];
    let i = 0;
    for (;;) {
      // Outside a packet: acks, the interrupt byte, noise (ignored, as GDB's own stubs do).
      while (i < this.buf.length && this.buf[i] !== 0x24 /* $ */) {
        const b = this.buf[i]!;
        if (b === 0x03) out.push({ kind: 'interrupt' });
        else if (b === 0x2b /* + */) out.push({ kind: 'ack' });
        else if (b === 0x2d /* - */) out.push({ kind: 'nak' });
        i++;
      }
      if (i >= this.buf.length) break;
      const hash = this.buf.indexOf(0x23 /* # */, i + 1);
      if (hash < 0 || hash + 2 >= this.buf.length) {
        if (this.buf.length - i > MAX_PACKET + 3) {
          // Never terminated: drop it rather than grow without bound.
          out.push({ kind: 'bad', data: Buffer.alloc(0) });
          i = this.buf.length;
        }
        break;
      }
      const data = this.buf.subarray(i + 1, hash);
      const want = parseInt(this.buf.subarray(hash + 1, hash + 3).toString('latin1'), 16);
      out.push(Number.isNaN(want) || want !== checksum(data) ? { kind: 'bad', data: Buffer.from(data) } : { kind: 'packet', data: Buffer.from(data) });
      i = hash + 3;
    }
    this.buf = i >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(i);
    return out;
  }
}

export function checksum(data: Uint8Array): number {
  let s = 0;
  for (const b of data) s = (s + b) & 0xff;
  return s;
}

/** Frame a reply: `$` + payload (escaped where the protocol needs it) + `#` + checksum. */
export function encode(payload: string | Buffer): Buffer {
  const raw = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const body = escapeBinary(raw);
  const cs = checksum(body).toString(16).padStart(2, '0');
  return Buffer.concat([Buffer.from('$'), body, Buffer.from(`#${cs}`)]);
}

/** Escape `#`, `$`, `}` and `*` (0x7d then the byte XOR 0x20), as binary payloads require. */
export function escapeBinary(data: Buffer): Buffer {
  let n = 0;
  for (const b of data) if (b === 0x23 || b === 0x24 || b === 0x7d || b === 0x2a) n++;
  if (n === 0) return data;
  const out = Buffer.alloc(data.length + n);
  let j = 0;
  for (const b of data) {
    if (b === 0x23 || b === 0x24 || b === 0x7d || b === 0x2a) {
      out[j++] = 0x7d;
      out[j++] = b ^ 0x20;
    } else out[j++] = b;
  }
  return out;
}

export function unescapeBinary(data: Buffer): Buffer {
  if (!data.includes(0x7d)) return data;
  const out = Buffer.alloc(data.length);
  let j = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (b === 0x7d && i + 1 < data.length) out[j++] = data[++i]! ^ 0x20;
    else out[j++] = b;
  }
  return out.subarray(0, j);
}

export function toHex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.length).toString('hex');
}

/** Parse hex text strictly (even length, hex digits only), or null. */
export function fromHex(s: string): Buffer | null {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
  return Buffer.from(s, 'hex');
}

/** A 32-bit register value in target (little-endian) byte order. */
export function le32Hex(v: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b.toString('hex');
}

/** A hex number field of a packet (no sign, at most 16 digits), or null. */
export function parseHexNum(s: string | undefined): number | null {
  if (s === undefined || !/^[0-9a-fA-F]{1,16}$/.test(s)) return null;
  const v = parseInt(s, 16);
  return Number.isSafeInteger(v) ? v : null;
}
