/** A step that did not complete: names the phase and the lane (or the timeout) and keeps the cause. */
export class StepError extends Error {
  /** True when the optimizer's state may be half-updated and it must be rebuilt. */
  readonly stateCorrupted: boolean;
  constructor(message: string, options: { cause?: unknown; stateCorrupted: boolean }) {
    super(message, { cause: options.cause });
    this.name = 'StepError';
    this.stateCorrupted = options.stateCorrupted;
  }
}

/** A value as error messages show it: quoted as JSON would print it, with its type. */
export function quote(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  let shown: string;
  if (typeof value === 'string') shown = JSON.stringify(value);
  else if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean' || value == null)
    shown = String(value);
  else if (typeof value === 'function') shown = `[function ${value.name || 'anonymous'}]`;
  else shown = Object.prototype.toString.call(value);
  return `${shown} (${type})`;
}
