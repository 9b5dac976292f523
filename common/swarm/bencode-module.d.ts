// The bencode package ships no types; this is the part common/swarm/bencode.ts uses.
declare module "bencode" {
  const codec: { encode(value: unknown): Uint8Array; decode(data: Uint8Array): unknown };
  export default codec;
}
