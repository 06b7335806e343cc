/** What the shadow's payload tools need to know of a value: its kind, its bytes, a bounded preview. Pure. */

/** Buffers up to this size are shown (and keyed) by their content; longer ones by a digest. */
export const INLINE_BUFFER_BYTES = 48;

export type Kind = "null" | "undefined" | "boolean" | "number" | "string" | "buffer" | "array" | "object" | "other";

export function kindOf(value: unknown): Kind {
  if (value === null) return "null";
  switch (typeof value) {
    case "undefined":
      return "undefined";
    case "boolean":
      return "boolean";
    case "number":
      return "number";
    case "string":
      return "string";
    case "object":
      if (Array.isArray(value)) return "array";
      if (ArrayBuffer.isView(value)) return "buffer";
      return "object";
    default:
      return "other";
  }
}

export function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.isBuffer(view) ? view : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

const PREVIEW_STRING = 200;
const PREVIEW_ITEMS = 20;
const PREVIEW_DEPTH = 4;

/** A bounded, JSON-safe rendering of a value for a diff: long strings, lists and Buffers are clipped. */
export function preview(value: unknown, depth = 0): unknown {
  switch (kindOf(value)) {
    case "string": {
      const text = value as string;
      return text.length <= PREVIEW_STRING ? text : `${text.slice(0, PREVIEW_STRING)}…(+${text.length - PREVIEW_STRING} chars)`;
    }
    case "buffer": {
      const bytes = bytesOf(value as ArrayBufferView);
      return { $buffer: bytes.subarray(0, INLINE_BUFFER_BYTES).toString("base64"), length: bytes.length };
    }
    case "other":
      return String(value);
    case "array": {
      const array = value as unknown[];
      if (depth >= PREVIEW_DEPTH) return `[…${array.length} items]`;
      const items = array.slice(0, PREVIEW_ITEMS).map((item) => preview(item, depth + 1));
      if (array.length > PREVIEW_ITEMS) items.push(`…(+${array.length - PREVIEW_ITEMS} items)`);
      return items;
    }
    case "object": {
      const keys = Object.keys(value as object);
      if (depth >= PREVIEW_DEPTH) return `{…${keys.length} keys}`;
      const out: Record<string, unknown> = {};
      for (const key of keys.slice(0, PREVIEW_ITEMS))
        Object.defineProperty(out, key, {
          value: preview((value as Record<string, unknown>)[key], depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      if (keys.length > PREVIEW_ITEMS) out["…"] = `+${keys.length - PREVIEW_ITEMS} keys`;
      return out;
    }
    default:
      return value;
  }
}

/** Every string value and object key in `value`, down to `maxDepth` levels of containers. */
export function stringsOf(value: unknown, maxDepth: number): Set<string> {
  const out = new Set<string>();
  const visit = (item: unknown, depth: number): void => {
    if (typeof item === "string") out.add(item);
    else if (item === null || typeof item !== "object" || ArrayBuffer.isView(item) || depth >= maxDepth) return;
    else if (Array.isArray(item)) for (const child of item) visit(child, depth + 1);
    else
      for (const key of Object.keys(item)) {
        out.add(key);
        visit((item as Record<string, unknown>)[key], depth + 1);
      }
  };
  visit(value, 0);
  return out;
}
