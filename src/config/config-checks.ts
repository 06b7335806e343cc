/**
 * Small building blocks for validating JSON documents (the routing config): each check either returns
 * the value or records a problem that names the JSON path (`shadow.rules[0].ignore[1]: ...`) and returns
 * undefined, so that one pass reports every problem at once.
 */

export class Problems {
  readonly list: string[] = [];

  add(path: string, message: string): undefined {
    this.list.push(`${path}: ${message}`);
    return undefined;
  }

  get empty(): boolean {
    return this.list.length === 0;
  }
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === "object") return "an object";
  return String(value);
}

export function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path === "" ? key : `${path}.${key}`;
}

/** An object with only the allowed keys (unknown keys are problems); undefined if not an object. */
export function object(value: unknown, path: string, allowed: readonly string[], problems: Problems): Record<string, unknown> | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return problems.add(path === "" ? "(document)" : path, `must be an object (got ${describe(value)})`);
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) problems.add(join(path, key), `unknown key (allowed: ${allowed.join(", ")})`);
  }
  return record;
}

/** A number 0-100 with at most two decimals (one routing bucket is 0.01 %), normalised to exactly that. */
export function percent(value: unknown, path: string, problems: Problems): number | undefined {
  if (
    typeof value !== "number" ||
    !Number.isFinite(value) ||
    value < 0 ||
    value > 100 ||
    Math.abs(value * 100 - Math.round(value * 100)) > 1e-6
  ) {
    return problems.add(path, `must be a number 0-100 with at most two decimals (got ${describe(value)})`);
  }
  return Math.round(value * 100) / 100;
}

export function integer(value: unknown, path: string, min: number, max: number, problems: Problems): number | undefined {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    return problems.add(path, `must be an integer ${min}-${max} (got ${describe(value)})`);
  }
  return value;
}

export function boolean(value: unknown, path: string, problems: Problems): boolean | undefined {
  if (typeof value !== "boolean") return problems.add(path, `must be true or false (got ${describe(value)})`);
  return value;
}

export function string(value: unknown, path: string, minLength: number, maxLength: number, problems: Problems): string | undefined {
  if (typeof value !== "string") return problems.add(path, `must be a string (got ${describe(value)})`);
  if (value.length < minLength || value.length > maxLength) {
    return problems.add(
      path,
      minLength === maxLength
        ? `must be ${minLength} characters long`
        : `must be ${minLength}-${maxLength} characters long (got ${value.length})`,
    );
  }
  return value;
}

/**
 * An array of at most `maxItems` items, each checked by `item` (which records its own problems and
 * returns undefined when invalid). Returns only the valid items; callers look at `problems` to know.
 */
export function array<T>(
  value: unknown,
  path: string,
  maxItems: number,
  problems: Problems,
  item: (value: unknown, path: string) => T | undefined,
): T[] | undefined {
  if (!Array.isArray(value)) return problems.add(path, `must be an array (got ${describe(value)})`);
  if (value.length > maxItems) return problems.add(path, `must have at most ${maxItems} entries (got ${value.length})`);
  const items: T[] = [];
  value.forEach((entry, index) => {
    const checked = item(entry, join(path, index));
    if (checked !== undefined) items.push(checked);
  });
  return items;
}

/**
 * Reports repeated entries as problems naming both positions. Works on the raw array so that positions
 * are the document's even when invalid entries were dropped; entries `keyOf` maps to undefined are skipped.
 */
export function noDuplicates(
  raw: unknown,
  path: string,
  problems: Problems,
  keyOf: (item: unknown) => string | undefined = (item) => (typeof item === "string" ? item : undefined),
): void {
  if (!Array.isArray(raw)) return;
  const first = new Map<string, number>();
  raw.forEach((item, index) => {
    const key = keyOf(item);
    if (key === undefined) return;
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, index);
    else problems.add(join(path, index), `duplicate of ${join(path, earlier)}`);
  });
}

/** Deep-freezes a plain JSON value. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
