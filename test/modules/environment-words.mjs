/**
 * Int32 words every thread of the process sees: created by the first import (on the test's
 * thread, before any pool thread starts) and handed to later threads as `worker_threads`
 * environment data. Word `owner` holds the creating thread's id.
 */
import { getEnvironmentData, setEnvironmentData, threadId } from 'node:worker_threads';

/**
 * @param {string} key
 * @param {number} length
 * @param {number} owner
 * @returns {Int32Array}
 */
export function environmentWords(key, length, owner) {
  let shared = /** @type {SharedArrayBuffer | undefined} */ (getEnvironmentData(key));
  if (shared === undefined) {
    shared = new SharedArrayBuffer(length * Int32Array.BYTES_PER_ELEMENT);
    new Int32Array(shared)[owner] = threadId;
    setEnvironmentData(key, shared);
  }
  return new Int32Array(shared);
}
