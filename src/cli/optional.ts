/**
 * The CLI's heavy helpers (TensorFlow.js for gradients, Vega for SVG charts, the Iris data) are
 * optional peers of the library: checked all at once before any work, loaded on demand.
 */

import { isInstalled } from '../common/installed.js';

/** The package a specifier belongs to (`@scope/name` or `name`). */
function packageOf(specifier: string): string {
  return specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');
}

/**
 * Throws, naming every one of `specifiers` that does not resolve from here, with the one
 * `npm install` line that brings them all — so a user installs once, not once per package.
 */
export function requirePeers(specifiers: readonly string[], purpose: string): void {
  const missing = specifiers.filter((specifier) => !isInstalled(specifier));
  if (missing.length > 0) {
    const packages = [...new Set(missing.map(packageOf))];
    throw new Error(
      `${purpose} needs ${packages.length === 1 ? 'a package that is' : 'packages that are'} not installed: ` +
        `${packages.join(', ')}. Install ${packages.length === 1 ? 'it' : 'them'} with:\n  npm install ${packages.join(' ')}`,
    );
  }
}

export async function optional<T>(specifier: string, purpose: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(`${purpose} needs the package '${packageOf(specifier)}': npm install it`, { cause: error });
    }
    throw error;
  }
}
