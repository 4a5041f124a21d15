/**
 * Fluentd EventTime: msgpack ext type 0 holding big-endian uint32 seconds and
 * uint32 nanoseconds (fixext8 `d7 00`, or ext8 `c7 08 00` from some peers).
 * https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1#eventtime-ext-format
 *
 * msgpackr decodes ext 0 to `undefined` unless an extension is registered, and
 * encodes a JS `undefined` as ext 0; `codec.ts` registers this class and turns
 * `undefined` into nil so neither surprise reaches a peer.
 */
export class EventTime {
  constructor (readonly sec: number, readonly nsec: number) {}

  static fromBuffer (buf: Uint8Array): EventTime {
    if (buf.length !== 8) throw new RangeError(`EventTime ext must hold 8 bytes, got ${buf.length}`)
    const dv = new DataView(buf.buffer, buf.byteOffset, 8)
    return new EventTime(dv.getUint32(0), dv.getUint32(4))
  }

  /** A float epoch (seconds) as Fluentd's Ruby clients send it; rounded to the nanosecond. */
  static fromFloat (t: number): EventTime {
    const sec = Math.floor(t)
    const nsec = Math.min(999_999_999, Math.round((t - sec) * 1e9))
    return new EventTime(sec, nsec)
  }

  static now (): EventTime {
    const ms = Date.now()
    return new EventTime(Math.floor(ms / 1000), (ms % 1000) * 1_000_000)
  }

  toBuffer (): Buffer {
    const b = Buffer.allocUnsafe(8)
    b.writeUInt32BE(this.sec >>> 0, 0)
    b.writeUInt32BE(this.nsec >>> 0, 4)
    return b
  }

  /** Epoch seconds as a float (loses sub-microsecond precision: display only). */
  toNumber (): number { return this.sec + this.nsec / 1e9 }

  toString (): string { return `${this.sec}.${String(this.nsec).padStart(9, '0')}` }
}

/** Seconds of an entry time, whatever form it has. */
export const timeSeconds = (t: EventTime | number): number =>
  typeof t === 'number' ? t : t.toNumber()
