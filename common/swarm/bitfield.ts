// The set of pieces a peer holds, in the wire's layout (BEP 3: bit 7 of byte 0 is piece 0), so
// that a bitfield message is taken and sent as is.

export class Bitfield {
  readonly bytes: Uint8Array;
  private held = 0;

  constructor(
    readonly length: number,
    bytes?: Uint8Array,
  ) {
    this.bytes = new Uint8Array(Math.ceil(length / 8));
    if (bytes) {
      if (bytes.length < this.bytes.length)
        throw new RangeError(`bitfield of ${bytes.length} bytes for ${length} pieces`);
      this.bytes.set(bytes.subarray(0, this.bytes.length));
      // Spare bits past the last piece are ignored, as BEP 3 asks of a receiver.
      const spare = this.bytes.length * 8 - length;
      if (spare > 0) this.bytes[this.bytes.length - 1]! &= (0xff << spare) & 0xff;
      for (let i = 0; i < length; i++) if (this.has(i)) this.held++;
    }
  }

  static full(length: number): Bitfield {
    const b = new Bitfield(length);
    for (let i = 0; i < length; i++) b.set(i);
    return b;
  }

  has(piece: number): boolean {
    return (this.bytes[piece >> 3]! & (0x80 >> (piece & 7))) !== 0;
  }

  /** Sets `piece`; true when it was not set before. */
  set(piece: number): boolean {
    if (piece < 0 || piece >= this.length) throw new RangeError(`piece ${piece} of ${this.length}`);
    const mask = 0x80 >> (piece & 7);
    const i = piece >> 3;
    if ((this.bytes[i]! & mask) !== 0) return false;
    this.bytes[i]! |= mask;
    this.held++;
    return true;
  }

  /** How many pieces are set. */
  count(): number {
    return this.held;
  }

  complete(): boolean {
    return this.held === this.length;
  }
}
