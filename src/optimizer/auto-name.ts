/**
 * Keras's automatic optimizer names: an RMSprop given no name is 'rm_sprop', then 'rm_sprop_1',
 * 'rm_sprop_2', ... in creation order.
 */
import { resolveOptions, type ResolvedOptions, type RMSpropOptions } from './options.js';

let unnamed = 0;
const AUTO_NAME = 'rm_sprop';

/**
 * Keras's `auto_name('RMSprop')` for an optimizer given no name: 'rm_sprop', then 'rm_sprop_1',
 * 'rm_sprop_2', ... (one count per process, taken before the other checks, as Keras takes it).
 */
function withAutoName(options: RMSpropOptions): RMSpropOptions {
  if (options === null || typeof options !== 'object' || options.name !== undefined) return options;
  const uid = unnamed++;
  return { ...options, name: uid === 0 ? AUTO_NAME : `${AUTO_NAME}_${uid}` };
}

/** Whether `name` is one `withAutoName` gives: the default, not the caller's choice. */
export function isAutoName(name: string): boolean {
  return name === AUTO_NAME || (name.startsWith(`${AUTO_NAME}_`) && /^\d+$/.test(name.slice(AUTO_NAME.length + 1)));
}

/** The constructor's options: named as Keras names an optimizer, then resolved. */
export function resolveNamedOptions(options: RMSpropOptions = {}): ResolvedOptions {
  return resolveOptions(withAutoName(options));
}
