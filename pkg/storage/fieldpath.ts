// Paths to fields of a stored object, as kinds declare their secret fields: dot-separated, with a
// `[]` suffix stepping into every element of an array (`spec.machines[].password`). The storage
// seals the values at such paths; the REST layer masks them for readers.

/** `spec.machines[].password` -> ['spec', 'machines[]', 'password']. */
export function parseFieldPath(path: string): string[] {
  return path.split('.');
}

/** Calls `fn` with the holder and field name of every value at `path`. */
export function visitField(node: unknown, path: string[], fn: (holder: Record<string, unknown>, field: string) => void): void {
  visitFieldPair(node, undefined, path, (holder, field) => fn(holder, field));
}

/**
 * Walks `node` and, alongside, `other` (an older version of it: array elements are paired by
 * index), calling `fn` with each holder of a value at `path` in `node` and the holder at the same
 * place in `other`, if there is one.
 */
export function visitFieldPair(
  node: unknown,
  other: unknown,
  path: string[],
  fn: (holder: Record<string, unknown>, field: string, otherHolder: Record<string, unknown> | undefined) => void,
): void {
  if (!node || typeof node !== 'object' || !path.length) return;
  const [step, ...rest] = path;
  const each = step.endsWith('[]');
  const field = each ? step.slice(0, -2) : step;
  const holder = node as Record<string, unknown>;
  const otherHolder = other && typeof other === 'object' ? (other as Record<string, unknown>) : undefined;
  if (!Object.hasOwn(holder, field)) return;
  if (each) {
    const list = holder[field];
    if (!Array.isArray(list)) return;
    const otherList = otherHolder && Array.isArray(otherHolder[field]) ? (otherHolder[field] as unknown[]) : undefined;
    for (let i = 0; i < list.length; i++) {
      if (rest.length) visitFieldPair(list[i], otherList?.[i], rest, fn);
      else fn(list as unknown as Record<string, unknown>, String(i), otherList as unknown as Record<string, unknown> | undefined);
    }
  } else if (rest.length) {
    visitFieldPair(holder[field], otherHolder?.[field], rest, fn);
  } else {
    fn(holder, field, otherHolder);
  }
}
