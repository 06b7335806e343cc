/**
 * JSON Merge Patch (RFC 7396), pure: the patch's object members replace the target's, recursively; a
 * `null` member removes that member (a removed routing section takes its default when the result is
 * validated); anything that is not an object (arrays included) replaces the target value whole. The
 * inputs are not modified.
 */

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}
