/** Checks on values decoded from JSON (Socket.IO payloads, hub frames), shared by every decoder. */

/**
 * socket.io-parser's `isObject`: what `Object.prototype.toString` calls an Object. True for object
 * literals and null-prototype objects (JSON.parse makes only those), and for class instances without a
 * `Symbol.toStringTag`; false for null, arrays, Buffers and typed arrays, Dates, Maps and Sets. The
 * payload checks must agree with socket.io-parser's exactly, so this is its definition.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return Object.prototype.toString.call(value) === "[object Object]";
}
