/**
 * Checks of a replica module's options on the calling thread. A module the library ships (the
 * tfjs replica) registers one under its URL; a trainer built with that module runs it before
 * anything else, so a bad option is refused, naming it, before any thread starts or anything is
 * built. What the check returns is what the threads receive: defaults filled in, URLs as
 * strings (a structured clone cannot carry a URL); and, where it can tell, the shape of a row of
 * the model, so a batch that does not fit is refused before any thread starts.
 */

import type { Variable } from '../optimizer/variable.js';
import type { RowShape } from './replica.js';

/** What a check returns: the options as the threads take them, and a row's shape where the check can tell it already. */
export interface CheckedReplicaOptions {
  readonly options: unknown;
  readonly rowShape: RowShape | null;
}

/** Checks a replica module's options (for these variables) and returns them as its threads take them; throws naming the option. */
export type ReplicaOptionsCheck = (options: unknown, variables: readonly Variable[]) => CheckedReplicaOptions;

const checks = new Map<string, ReplicaOptionsCheck>();

/** @internal Registers the options check of the replica module at `module`. */
export function registerReplicaOptionsCheck(module: URL, check: ReplicaOptionsCheck): void {
  checks.set(module.href, check);
}

/** The options as the module's threads take them: checked and completed where it registered a check, else as given. */
export function checkedReplicaOptions(
  module: string,
  options: unknown,
  variables: readonly Variable[],
): CheckedReplicaOptions {
  const check = checks.get(module);
  return check ? check(options, variables) : { options, rowShape: null };
}
