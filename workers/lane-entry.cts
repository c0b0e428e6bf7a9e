/**
 * piscina's entry point for a lane: a CommonJS module that loads the ES module lane with
 * `import()`. Given an ES module, piscina loads it with `require()`, and on Node 20 a thread
 * terminated while `require()` instantiates an ES module aborts the whole process (V8 fatal
 * error "IsGraphAsync ... must be used on an instantiated module"); a thread terminated during
 * `import()` just ends. A pool thread can be terminated from outside at any moment.
 *
 * A custom kernel set is named by its module's URL: importing it registers the set in this
 * thread's registry, where the lane looks it up. A failed import is handed to the lane, which
 * fails the first command it begins with it (failing the task here instead would look like a
 * lane that never started, whose share the coordinator quietly takes over, step after step).
 */
import type { LaneTask } from '../src/pool/pool.js';

type LaneModule = typeof import('./lane.js');
let lane: Promise<LaneModule> | undefined;
/** Per thread: each kernel module is imported once, and a failure stays a failure. */
const kernelModules = new Map<string, Promise<unknown>>();

export = async function runLaneTask(task: LaneTask): Promise<string> {
  lane ??= import('./lane.js');
  const { default: run, needsImport } = await lane;
  let loadFailure: Error | null = null;
  if (needsImport(task.kernels)) {
    let module = kernelModules.get(task.kernels);
    if (module === undefined) kernelModules.set(task.kernels, (module = import(task.kernels)));
    try {
      await module;
    } catch (cause) {
      const why = cause instanceof Error ? cause.message : String(cause);
      loadFailure = new Error(`the kernel module ${task.kernels} failed to import on a worker thread: ${why}`, {
        cause,
      });
    }
  }
  return run(task, loadFailure);
};
