/** A value as error messages show it: quoted as JSON would print it, with its type. */
export function quote(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `${shown(value)} (${type})`;
}

/** A value as error messages show it, without its type: strings quoted, arrays and object literals as (short) JSON. */
export function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean' || value == null)
    return String(value);
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  return (isPlain(value) && json(value)) || instance(value) || Object.prototype.toString.call(value);
}

/** An instance by its class (and its name, where it has one): `Variable 'w'`, `Float32Array(8)`. */
function instance(value: object): string | undefined {
  if (ArrayBuffer.isView(value)) {
    const length = (value as { length?: number }).length ?? value.byteLength;
    return `${value.constructor.name}(${length})`;
  }
  const className = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name;
  if (!className) return undefined;
  const { name } = value as { name?: unknown };
  return typeof name === 'string' ? `${className} '${name}'` : `[${className}]`;
}

/** An array or an object literal: its JSON says what it holds. */
const isPlain = (value: object): boolean =>
  Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null;

/** Short JSON, or undefined where there is none (cycles, bigints). */
function json(value: object): string | undefined {
  try {
    // inside an array or object, an instance reads as itself (a typed array is not {"0":...})
    const text = JSON.stringify(value, (_key, inner: unknown) =>
      inner !== null && typeof inner === 'object' && !isPlain(inner) ? (instance(inner) ?? inner) : inner,
    );
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return undefined;
  }
}
