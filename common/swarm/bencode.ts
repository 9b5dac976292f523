// Bencoding (BEP 3) for the peer wire's extended handshake and the tracker's answers, through
// the bencode package (the one parse-torrent uses). Byte strings decode as Uint8Array,
// dictionary keys as strings.
import codec from "bencode";

export function bencode(value: unknown): Uint8Array {
  return codec.encode(value);
}

/** Decodes `data`; throws on anything that is not one whole bencoded value. */
export function bdecode(data: Uint8Array): unknown {
  return codec.decode(data);
}
