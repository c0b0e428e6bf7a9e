/**
 * piscina's entry point for a lane: a CommonJS module that loads the ES module lane with
 * `import()`. Given an ES module, piscina loads it with `require()`, and on Node 20 a thread
 * terminated while `require()` instantiates an ES module aborts the whole process (V8 fatal
 * error "IsGraphAsync ... must be used on an instantiated module"); a thread terminated during
 * `import()` just ends. A pool thread can be terminated from outside at any moment.
 */
import type { LaneTask } from '../src/pool.js';

type RunLane = (task: LaneTask) => string;
let lane: Promise<RunLane> | undefined;

export = async function runLaneTask(task: LaneTask): Promise<string> {
  lane ??= import('./lane.js').then((module: { default: RunLane }) => module.default);
  return (await lane)(task);
};
