/**
 * The building blocks of a settings row (src/config/settings.ts, src/config/limit-settings.ts): the row
 * itself and the parsers that validate a raw value (from the environment or the SWITCHYARD_CONFIG file).
 */
export type RawValue = string | number | boolean;

export interface SettingSpec<T> {
  readonly name: string;
  readonly doc: string;
  /** Printed in docs/configuration.md; `undefined` means "unset" (the setting is optional). */
  readonly defaultValue: T | undefined;
  readonly parse: (raw: RawValue) => T;
}

export class SettingError extends Error {}

export function setting<T>(name: string, defaultValue: T | undefined, doc: string, parse: (raw: RawValue) => T): SettingSpec<T> {
  return Object.freeze({ name, defaultValue, doc, parse });
}

export function integer(min: number, max: number) {
  return (raw: RawValue): number => {
    const value = typeof raw === "number" ? raw : typeof raw === "string" && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new SettingError(`must be an integer between ${min} and ${max} (got ${JSON.stringify(raw)})`);
    }
    return value;
  };
}

export function boolean(raw: RawValue): boolean {
  if (typeof raw === "boolean") return raw;
  const text = String(raw).trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["0", "false", "no", "off"].includes(text)) return false;
  throw new SettingError(`must be true or false (got ${JSON.stringify(raw)})`);
}

export function oneOf<T extends string>(...allowed: T[]) {
  return (raw: RawValue): T => {
    const text = String(raw).trim();
    if (!(allowed as string[]).includes(text)) {
      throw new SettingError(`must be one of ${allowed.join(", ")} (got ${JSON.stringify(raw)})`);
    }
    return text as T;
  };
}

export function url(...protocols: string[]) {
  return (raw: RawValue): string => {
    const text = String(raw).trim();
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      throw new SettingError(`must be a URL (got ${JSON.stringify(raw)})`);
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new SettingError(`must use ${protocols.map((p) => p.replace(":", "")).join(" or ")} (got ${JSON.stringify(raw)})`);
    }
    return text.replace(/\/+$/, "");
  };
}

export function text(minLength: number, what: string) {
  return (raw: RawValue): string => {
    const value = String(raw);
    if (value.length < minLength) throw new SettingError(`must be ${what} (got ${value.length} characters)`);
    return value;
  };
}

export function list(raw: RawValue): string[] {
  return String(raw)
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}
