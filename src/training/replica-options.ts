/**
 * Checks of a replica module's options on the calling thread. A module the library ships (the
 * tfjs replica) registers one under its URL; a trainer built with that module runs it before
 * anything else, so a bad option is refused, naming it, before any thread starts or anything is
 * built. What the check returns is what the threads receive: defaults filled in, URLs as
 * strings (a structured clone cannot carry a URL).
 */

/** Checks a replica module's options and returns them as its threads take them; throws naming the option. */
export type ReplicaOptionsCheck = (options: unknown) => unknown;

const checks = new Map<string, ReplicaOptionsCheck>();

/** @internal Registers the options check of the replica module at `module`. */
export function registerReplicaOptionsCheck(module: URL, check: ReplicaOptionsCheck): void {
  checks.set(module.href, check);
}

/** The options as the module's threads take them: checked and completed where it registered a check, else as given. */
export function checkedReplicaOptions(module: string, options: unknown): unknown {
  const check = checks.get(module);
  return check ? check(options) : options;
}
