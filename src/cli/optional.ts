/**
 * The CLI's heavy helpers (TensorFlow.js for gradients, Vega for SVG charts, the Iris data) are
 * optional peers of the library: loaded on demand, with an install hint when missing.
 */
export async function optional<T>(specifier: string, purpose: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(
        `${purpose} needs the package '${specifier
          .split('/')
          .slice(0, specifier.startsWith('@') ? 2 : 1)
          .join('/')}': npm install it`,
        { cause: error },
      );
    }
    throw error;
  }
}
