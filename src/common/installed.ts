/** Whether a package (an optional peer) resolves from this library's folder, where its threads import it too. */
export function isInstalled(specifier: string): boolean {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}
