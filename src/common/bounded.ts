/**
 * A wait with a bound: `work`, or the error `timedOut()` makes once `ms` have passed; the timer
 * is cleared either way, so nothing is left holding the process.
 */
export async function bounded<T>(work: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
