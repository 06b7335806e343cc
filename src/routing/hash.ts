/**
 * The stable routing hash. Every instance, and any other implementation, must put a key in the same
 * bucket, so the definition is exact:
 *
 *   input  = UTF-8(salt) ‖ 0x00 ‖ UTF-8(key)
 *   hash   = MurmurHash3_x86_32(input, seed = 0), as an unsigned 32-bit integer
 *   bucket = hash mod 10000                      (0..9999; one bucket = 0.01 %)
 *
 * MurmurHash3 (Austin Appleby, public domain) was chosen over FNV-1a because its finalizer mixes every
 * input bit into every output bit, so near-identical keys ("user-1", "user-2") spread uniformly even
 * after `mod 10000`; it is fast, dependency-free and has published test vectors (see the unit tests).
 * A session goes to the hub when bucket < hubPercent × 100, so raising the percentage only ever moves
 * keys from legacy to the hub.
 */

export const BUCKETS = 10_000;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3_x86_32 of `bytes`, unsigned. */
export function murmur3(bytes: Uint8Array, seed = 0): number {
  let h = seed >>> 0;
  const length = bytes.length;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = length & 3;
  if (tail > 0) {
    let k = bytes[blocks]!;
    if (tail > 1) k ^= bytes[blocks + 1]! << 8;
    if (tail > 2) k ^= bytes[blocks + 2]! << 16;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const encoder = new TextEncoder();
/** Reused for inputs up to its size (UTF-8 needs at most 3 bytes per UTF-16 unit): no allocation per hash. */
const scratch = new Uint8Array(4096);

/** The routing hash of a key under a salt (see the definition above). */
export function routingHash(salt: string, key: string): number {
  const text = `${salt}\u0000${key}`;
  if (text.length * 3 > scratch.length) return murmur3(encoder.encode(text));
  const { written } = encoder.encodeInto(text, scratch);
  return murmur3(scratch.subarray(0, written));
}

/** The key's bucket, 0..9999. */
export function bucketOf(salt: string, key: string): number {
  return routingHash(salt, key) % BUCKETS;
}

/** The routing hash as 8 hex digits: identifies a key in logs without revealing it. */
export function keyHashHex(hash: number): string {
  return hash.toString(16).padStart(8, "0");
}

/**
 * The salt for shadow sampling: derived from the routing salt so that which sessions are shadowed is
 * independent of which go to the hub (otherwise a 10 % shadow of legacy sessions at a 30 % split would
 * pick nobody: the lowest buckets are all on the hub).
 */
export function shadowSaltOf(salt: string): string {
  return `${salt}\u0000shadow`;
}
