/**
 * Trust over long runs: waits leave nothing behind, every failure reaches the caller, a failed
 * lane never stalls the next step, a refused load leaves nothing behind, and an optimizer nobody
 * closes holds no threads once idle.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { RMSprop, Variable, type StepError } from '../../dist/src/index.js';
import { writeCheckpointFile } from '../../dist/src/checkpoint/write.js';
import { randomValues, snapshot } from '../helpers/state.js';
import { checkpointDirectory } from '../helpers/files.js';
import { failNext, faultyKernels } from '../modules/faulty-kernels.mjs';

const { fresh } = checkpointDirectory('reliability');

const SIZE = 20000; // several numpy buffers (8192 elements), so both lanes have norm-phase and update work
const model = (name = 'w') => [new Variable(randomValues(SIZE, 7), { name })];
const gradient = (seed: number): Float32Array[] => [randomValues(SIZE, seed)];

/** Active handles and requests by type, as Node counts them. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/**
 * The active resources of each type that outnumber the baseline's: what a run left behind. (Not
 * equality: a timer of the test runner's or piscina's that was pending at the baseline may have
 * fired since.)
 */
function leftBehind(baseline: Record<string, number>): Record<string, number> {
  const grown: Record<string, number> = {};
  for (const [type, n] of Object.entries(resources())) if (n > (baseline[type] ?? 0)) grown[type] = n;
  return grown;
}

const dist = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));
const faultsModule = new URL('../modules/faulty-kernels.mjs', import.meta.url).href;
/**
 * Runs an ES module script in a fresh Node process with the built library as `lib` and the
 * test's failing kernels (`failNext`, `faultyKernels`).
 */
function runScript(body: string, timeout = 60_000) {
  const script =
    `import * as lib from ${JSON.stringify(dist)};\nconst { RMSprop, Variable } = lib;\n` +
    `const { failNext, faultyKernels } = await import(${JSON.stringify(faultsModule)});\n${body}`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout });
}

describe('a long run', () => {
  it('leaves no timer, wait or handle behind: the 3000th step costs what the 10th did', async () => {
    const timeouts: unknown[] = [];
    const original = Atomics.waitAsync;
    Atomics.waitAsync = ((...args: Parameters<typeof Atomics.waitAsync>) => {
      timeouts.push(args[3]);
      return original(...args);
    }) as typeof Atomics.waitAsync;
    try {
      const vars = model();
      const opt = new RMSprop({ workers: 2, clipnorm: 1, stepTimeoutMs: 5000 });
      await opt.apply(gradient(1), vars);
      for (let i = 0; i < 10; i++) await opt.step();
      const baseline = resources();
      for (let i = 0; i < 3000; i++) await opt.step();
      expect(leftBehind(baseline)).toEqual({});
      expect(timeouts.length).toBeGreaterThan(0);
      // a timeout given to waitAsync stays queued in Node until it expires, however early the wait ends
      expect(timeouts.filter((t) => t !== undefined && t !== Infinity)).toEqual([]);
      expect(opt.iterations).toBe(3011);
      await opt.close();
    } finally {
      Atomics.waitAsync = original;
    }
  });
});

describe('a run longer than stepTimeoutMs', () => {
  it('steps for over three timeouts, with a pause longer than one, without a spurious timeout or anything left behind', async () => {
    const TIMEOUT = 1000;
    const vars = model();
    const opt = new RMSprop({ workers: 2, clipnorm: 1, stepTimeoutMs: TIMEOUT });
    await opt.apply(gradient(1), vars);
    let steps = 0;
    for (; steps < 10; steps++) await opt.step(); // the threads have started
    const baseline = resources();
    const run = async (ms: number) => {
      for (const started = performance.now(); performance.now() - started < ms; steps++) await opt.step();
    };
    await run(1.5 * TIMEOUT);
    await new Promise((resolve) => setTimeout(resolve, 1.3 * TIMEOUT)); // the watchdog fires while no phase is in flight
    await run(1.5 * TIMEOUT);
    expect(leftBehind(baseline)).toEqual({});
    const reference = model();
    const inline = new RMSprop({ workers: 0, clipnorm: 1 });
    await inline.apply(gradient(1), reference);
    for (let i = 0; i < steps; i++) await inline.step();
    expect(opt.iterations).toBe(steps + 1);
    expect(snapshot(opt, vars).equals(snapshot(inline, reference))).toBe(true);
    await opt.close();
  });
});

describe('steps nobody awaits', () => {
  it('100 step() calls fired without await give the bytes of 100 awaited ones', async () => {
    const run = async (awaited: boolean) => {
      const vars = model();
      const opt = new RMSprop({ workers: 2, globalClipnorm: 1, momentum: 0.9 });
      await opt.apply(gradient(1), vars);
      for (let i = 0; i < 100; i++) {
        if (awaited) await opt.step();
        else void opt.step();
      }
      await opt.close(); // queued behind every step
      return { bytes: snapshot(opt, vars), iterations: opt.iterations };
    };
    const fired = await run(false);
    const awaited = await run(true);
    expect(fired.iterations).toBe(101);
    expect(fired.bytes.equals(awaited.bytes)).toBe(true);
  });
});

describe('failures reach the caller', () => {
  const setup = `
    const v = new Variable(new Float32Array(${SIZE}).fill(1), { name: 'w' });
    const opt = new RMSprop({ workers: 2, kernels: faultyKernels });
    await opt.apply([new Float32Array(${SIZE}).fill(0.5)], [v]);
    failNext({ lane: 1, phase: 'update', kind: 'throw' });`;

  it('a step nobody awaits that fails is an unhandled rejection, and so is every call queued behind it', () => {
    const child = runScript(`
      const rejections = [];
      process.on('unhandledRejection', (e) => rejections.push(e.name + ': ' + e.message));
      ${setup}
      for (let i = 0; i < 50; i++) opt.step();
      await opt.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      console.log(JSON.stringify({ iterations: opt.iterations, rejections }));`);
    expect(child.stderr).toBe('');
    const { iterations, rejections } = JSON.parse(child.stdout) as { iterations: number; rejections: string[] };
    expect(iterations).toBe(1);
    expect(rejections).toHaveLength(50);
    expect(rejections[0]).toMatch(/^StepError: step 2 of optimizer 'rm_sprop(_\d+)?' failed in the update phase/);
    expect(rejections.slice(1).every((m) => /must be rebuilt/.test(m))).toBe(true);
  });

  it('with no handler, Node reports it and exits non-zero', () => {
    const child = runScript(`${setup}\nopt.step();`);
    expect(child.status).toBe(1);
    expect(child.stderr).toMatch(/StepError: step 2 of optimizer 'rm_sprop(_\d+)?' failed in the update phase/);
  });

  it('a save queued behind a step that breaks the state rejects and keeps the last good file', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 2, kernels: faultyKernels });
    await opt.apply(gradient(1), vars);
    const path = fresh();
    await opt.save(path, { variables: true });
    const good = readFileSync(path);
    failNext({ lane: 0, phase: 'update', kind: 'throw' });
    const [step, save] = await Promise.allSettled([opt.step(), opt.save(path, { variables: true })]);
    expect(step.status).toBe('rejected');
    expect(((step as PromiseRejectedResult).reason as StepError).stateCorrupted).toBe(true);
    expect(save.status).toBe('rejected');
    expect(String((save as PromiseRejectedResult).reason)).toMatch(/must be rebuilt/);
    expect(readFileSync(path).equals(good)).toBe(true);
    await opt.close();
  });

  it('save() rejects (never throws) when closed, broken or given bad arguments', async () => {
    const opt = new RMSprop({ workers: 0 });
    const unbuilt = opt.save(fresh(), { variables: true });
    await expect(unbuilt).rejects.toThrow(/needs a built optimizer/);
    await expect(opt.save(42 as unknown as string)).rejects.toThrow(
      /`path` must be a non-empty string, got 42 \(number\)/,
    );
    await opt.close();
    let thrown: unknown = null;
    let result: Promise<void> | null = null;
    try {
      result = opt.save(fresh());
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeNull();
    await expect(result).rejects.toThrow(/is closed/);
  });
});

describe('after a failure, the next step runs at full speed or rejects at once', () => {
  const OPTIONS = { clipnorm: 1, momentum: 0.5, stepTimeoutMs: 30_000 };
  async function warm(kernels?: string) {
    const vars = model();
    const opt = new RMSprop({ workers: 2, ...OPTIONS, kernels });
    await opt.apply(gradient(1), vars); // the lanes are up and idle
    return { vars, opt };
  }
  async function reference(steps: number) {
    const vars = model();
    const opt = new RMSprop({ workers: 0, ...OPTIONS });
    await opt.apply(gradient(1), vars);
    for (let i = 0; i < steps; i++) await opt.step();
    return snapshot(opt, vars);
  }

  it.each(['step', 'stepSync'] as const)(
    'a norm-phase stepSync() failure changes nothing; %s() right after it succeeds',
    async (retry) => {
      const { vars, opt } = await warm(faultyKernels);
      const before = snapshot(opt, vars);
      failNext({ lane: 1, phase: 'norm', kind: 'throw' });
      expect(() => opt.stepSync()).toThrow(/norm phase: worker lane 1 threw in the norm phase; nothing was changed/);
      expect(snapshot(opt, vars).equals(before)).toBe(true);
      // the failed lane is not left Reserved: no wait for stepTimeoutMs (30 s), no timeout error
      if (retry === 'step') await opt.step();
      else opt.stepSync();
      await opt.step();
      expect(snapshot(opt, vars).equals(await reference(2))).toBe(true);
      await opt.close();
    },
  );

  it('a norm-phase step() failure: the next step() succeeds on relaunched lanes', async () => {
    const { vars, opt } = await warm(faultyKernels);
    failNext({ lane: 0, phase: 'norm', kind: 'exit' });
    await expect(opt.step()).rejects.toThrow(/worker lane 0 failed.*nothing was changed/);
    await opt.step();
    expect(snapshot(opt, vars).equals(await reference(1))).toBe(true);
    await opt.close();
  });

  it('a pool thread terminated from outside between steps: the next step gives the right bytes', async () => {
    const threads: Worker[] = [];
    const track = (worker: Worker) => threads.push(worker);
    process.on('worker', track);
    try {
      const { vars, opt } = await warm();
      expect(threads).toHaveLength(2);
      await threads[1]!.terminate(); // resolves once the thread has exited
      await opt.step();
      await opt.step(); // on a relaunched thread
      expect(threads).toHaveLength(3);
      expect(snapshot(opt, vars).equals(await reference(2))).toBe(true);
      await opt.close();
    } finally {
      process.off('worker', track);
    }
  });

  it('a pool thread terminated from outside while the first step commits the arena: nothing half done, the run goes on with the right bytes', async () => {
    // 30M parameters: the commit phase fills 360 MB of pages beyond the values build writes
    const n = 30_000_000;
    const threads: Worker[] = [];
    const track = (worker: Worker) => threads.push(worker);
    process.on('worker', track);
    try {
      const w = new Variable('ones', { shape: [n], name: 'w' });
      const opt = new RMSprop({ workers: 2, momentum: 0.9 });
      const grads = [new Float32Array(n).fill(0.1)];
      // build writes the values (4n bytes) synchronously; past them, resident pages grow only while
      // the lanes commit the arena: the first lane's thread is terminated then, inside the phase
      const baseline = process.memoryUsage().rss;
      let killedAt = -1;
      const watcher = setInterval(() => {
        const grown = process.memoryUsage().rss - baseline - 4 * n;
        if (threads.length > 0 && grown > 40e6) {
          clearInterval(watcher);
          killedAt = grown;
          void threads[0]!.terminate();
        }
      }, 1);
      const first = await opt.apply(grads, [w]).then(
        () => null,
        (e: unknown) => e as StepError,
      );
      clearInterval(watcher);
      expect(killedAt, 'the commit phase grew the resident pages').toBeGreaterThan(0);
      if (first !== null && !/commit phase/.test(first.message)) {
        // the commit was over when the thread ended (a fast machine): the update phase says it may be half done
        expect(first.message).toMatch(/update phase: .*rebuild it/);
        expect(first.stateCorrupted).toBe(true);
        await opt.close();
        return;
      }
      if (first !== null) {
        // the commit phase writes bytes back unchanged: a failure there changes nothing
        expect(first.message).toMatch(/commit phase: .*nothing was changed/);
        expect(first.stateCorrupted).toBe(false);
        expect(opt.iterations).toBe(0);
        expect(w.value.every((x) => x === 1)).toBe(true);
        await opt.apply(grads, [w]);
      }
      await opt.apply(grads, [w]);
      expect(threads.length).toBeGreaterThanOrEqual(3); // the killed lane was relaunched
      // every element saw the same two steps: one element on the calling thread is the reference
      const one = new Variable('ones', { shape: [1], name: 'w' });
      const reference = new RMSprop({ workers: 0, momentum: 0.9 });
      for (let s = 0; s < 2; s++) await reference.apply([Float32Array.of(0.1)], [one]);
      expect(w.value.every((x) => x === one.value[0])).toBe(true);
      await opt.close();
    } finally {
      process.off('worker', track);
    }
  });

  it('a pool thread terminated just before a synchronous step: the calling thread does its share, no timeout', async () => {
    const threads: Worker[] = [];
    const track = (worker: Worker) => threads.push(worker);
    process.on('worker', track);
    try {
      const { vars, opt } = await warm(); // stepTimeoutMs 30 s
      void threads[1]!.terminate();
      // block without turning the event loop: the thread ends, but nothing here hears of it
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      opt.stepSync();
      expect(snapshot(opt, vars).equals(await reference(1))).toBe(true);
      await opt.step();
      expect(snapshot(opt, vars).equals(await reference(2))).toBe(true);
      await opt.close();
    } finally {
      process.off('worker', track);
    }
  });

  it('while a step is in flight the process stays alive until it settles', () => {
    const child = runScript(`
      const v = new Variable(new Float32Array(${SIZE}).fill(1), { name: 'w' });
      const opt = new RMSprop({ workers: 2, clipnorm: 1, stepTimeoutMs: 30000, kernels: faultyKernels });
      await opt.apply([new Float32Array(${SIZE}).fill(0.5)], [v]);
      failNext({ lane: 1, phase: 'norm', kind: 'throw' });
      try { opt.stepSync(); } catch (e) { console.log('first:', e.stateCorrupted); }
      await opt.step();
      console.log('retried:', opt.iterations);`);
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe('first: false\nretried: 2\n');
    expect(child.status).toBe(0);
  });
});

describe('a refused load leaves nothing behind', () => {
  async function checkpointWith(iteration: bigint, learningRate = 0.001): Promise<string> {
    const vars = model();
    const opt = new RMSprop({ workers: 0 });
    await opt.apply(gradient(1), vars);
    const state = opt.variables.map((s) => ({
      name: s.name,
      shape: s.shape,
      data:
        s.name === 'iteration'
          ? BigInt64Array.of(iteration)
          : s.name === 'learning_rate'
            ? Float32Array.of(learningRate)
            : s.value,
    }));
    const path = fresh();
    await writeCheckpointFile(path, { config: opt.getConfig(), state, variables: null }); // well-formed, checksums right
    return path;
  }

  it.each([
    ['iteration -1', -1n, 0.001, /'iteration' must be an integer from 0 to 2\^53 - 1, got -1 \(bigint\)/],
    ['iteration 2^60', 2n ** 60n, 0.001, /'iteration' must be an integer from 0 to 2\^53 - 1/],
    ['a NaN learning rate', 3n, NaN, /'learning_rate' must be a finite float32, got NaN \(number\)/],
  ])(
    '%s: refused before build, no threads started, the variables free for another optimizer',
    async (_label, iteration, lr, message) => {
      const path = await checkpointWith(iteration, lr);
      let started = 0;
      const count = () => started++;
      process.on('worker', count);
      try {
        const vars = model();
        const before = vars[0]!.value.slice();
        await expect(RMSprop.load(path, vars, { workers: 2 })).rejects.toThrow(message);
        expect(started).toBe(0);
        expect(vars[0]!.value).toEqual(before);
        const other = new RMSprop({ workers: 0 });
        other.build(vars); // not captured by the refused optimizer
        expect(other.workers).toBe(0);
      } finally {
        process.off('worker', count);
      }
    },
  );

  it('loadOwnVariables refuses a NaN learning rate or a negative iteration, assigning nothing', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 0, momentum: 0.5 });
    await opt.apply(gradient(1), vars);
    const store = opt.saveOwnVariables();
    const before = snapshot(opt, vars);
    expect(() => opt.loadOwnVariables({ ...store, '1': Float32Array.of(NaN) })).toThrow(
      /'learning_rate' must be a finite float32/,
    );
    expect(() => opt.loadOwnVariables({ ...store, '0': Float64Array.of(-1) })).toThrow(
      /'iteration' must be an integer/,
    );
    expect(snapshot(opt, vars).equals(before)).toBe(true);
  });
});

describe('runtime options belong to the caller', () => {
  it.each([
    ['workers', { workers: 48 }],
    ['step_timeout_ms', { step_timeout_ms: 1 }],
    ['kernels', { kernels: 'js' }],
    ['max_segment_bytes', { max_segment_bytes: 65536 }],
    ['thread_idle_ms', { thread_idle_ms: 0 }],
  ])('a config or checkpoint with %s is refused, naming it', async (key, extra) => {
    const opt = new RMSprop({ workers: 0 });
    const config = { ...opt.getConfig(), ...extra };
    expect(() => RMSprop.fromConfig(config)).toThrow(
      new RegExp(`'${key}' is a runtime option of this library, not a Keras argument`),
    );
    const path = fresh();
    const state = [
      { name: 'iteration', shape: [], data: BigInt64Array.of(0n) },
      { name: 'learning_rate', shape: [], data: Float32Array.of(0.001) },
    ];
    await writeCheckpointFile(path, { config, state, variables: null });
    // the load's error says which file, as the file's own checks do
    const escaped = path.replace(/[.]/g, '\\.');
    await expect(RMSprop.load(path)).rejects.toThrow(
      new RegExp(`^checkpoint '${escaped}': fromConfig: '${key}' is a runtime option`),
    );
  });

  it('the runtime argument sets them, and only them', () => {
    const config = new RMSprop({ workers: 0 }).getConfig();
    expect(RMSprop.fromConfig(config, { workers: 0, kernels: 'js' }).kernels).toBe('js');
    expect(() => RMSprop.fromConfig(config, { rho: 0.5 } as never)).toThrow(
      /`runtime` takes only workers, stepTimeoutMs, kernels, maxSegmentBytes, threadIdleMs, microBatches, world; got 'rho'/,
    );
  });
});

describe('no leak without close()', () => {
  it('optimizers nobody closes hold no threads once idle, and get them back on the next step', async () => {
    const live = new Set<Worker>();
    let started = 0;
    const track = (worker: Worker) => {
      started++;
      live.add(worker);
      worker.once('exit', () => live.delete(worker));
    };
    process.on('worker', track);
    try {
      const kept: Array<{ opt: RMSprop; vars: Variable[] }> = [];
      for (let i = 0; i < 8; i++) {
        const vars = model();
        const opt = new RMSprop({ workers: 2, threadIdleMs: 300 });
        await opt.apply(gradient(1), vars);
        kept.push({ opt, vars });
      }
      expect(started).toBe(16);
      // lanes retire after 250 ms idle, their threads end 300 ms later; the bound only catches a leak
      for (let waited = 0; live.size > 0 && waited < 20_000; waited += 100)
        await new Promise((r) => setTimeout(r, 100));
      expect(live.size).toBe(0);

      const { opt, vars } = kept[0]!;
      await opt.step();
      expect(started).toBe(18);
      const reference = model();
      const inline = new RMSprop({ workers: 0 });
      await inline.apply(gradient(1), reference);
      await inline.step();
      expect(snapshot(opt, vars).equals(snapshot(inline, reference))).toBe(true);
      await opt.close();
    } finally {
      process.off('worker', track);
    }
  });
});

describe('no leak without close(), in memory', () => {
  it('optimizers nobody closes or reaches are collected, arena and all, once their threads end', () => {
    const script = `import * as lib from ${JSON.stringify(dist)};
      const { RMSprop, Variable } = lib;
      let live = 0;
      process.on('worker', (w) => { live++; w.once('exit', () => live--); });
      let collected = 0;
      const registry = new FinalizationRegistry(() => collected++);
      async function trainAndForget() {
        const v = new Variable(new Float32Array(1_000_000).fill(1), { name: 'w' });
        // a step timeout far longer than the test: nothing pending may hold the arena that long
        const opt = new RMSprop({ workers: 2, threadIdleMs: 300, stepTimeoutMs: 600_000 });
        await opt.apply([new Float32Array(1_000_000).fill(0.5)], [v]);
        registry.register(opt, 'optimizer');
        registry.register(v, 'variable');
        registry.register(v.value.buffer, 'arena'); // the shared memory itself
      }
      for (let i = 0; i < 20; i++) await trainAndForget();
      for (let waited = 0; live > 0 && waited < 20000; waited += 100) await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < 10 && collected < 60; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); }
      console.log(JSON.stringify({ live, collected }));`;
    const child = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual({ live: 0, collected: 60 });
  });
});

describe('what save writes, load reads', () => {
  it('variables with the same name are refused at build, naming both', async () => {
    const a = new Variable([1, 2], { name: 'dup' });
    const b = new Variable([3], { name: 'other' });
    const c = new Variable([4, 5, 6], { name: 'dup' });
    const opt = new RMSprop({ workers: 0 });
    expect(() => opt.build([a, b, c])).toThrow(/build: variables 0 and 2 are both named 'dup'/);
    expect(a.owner).toBeNull(); // nothing was built
    await expect(opt.apply([[1, 1], [1], [1, 1, 1]], [a, b, c])).rejects.toThrow(
      /variables 0 and 2 are both named 'dup'/,
    );
  });
});

describe('finalizeVariableValues', () => {
  it('checks every variable before assigning any', async () => {
    const vars = model();
    const foreign = new Variable(randomValues(SIZE, 3), { name: 'foreign' });
    const opt = new RMSprop({ workers: 0, useEma: true });
    await opt.apply(gradient(1), vars);
    await opt.apply(gradient(2), vars);
    const before = vars[0]!.value.slice();
    expect(() => opt.finalizeVariableValues([vars[0]!, foreign])).toThrow(
      /Variable 'foreign' was not built with optimizer 'rm_sprop(_\d+)?'/,
    );
    expect(vars[0]!.value).toEqual(before);
    expect(() => opt.finalizeVariableValues('w' as never)).toThrow(
      /`variables` must be an array of Variable, got "w" \(string\)/,
    );
    // an instance is shown by its class and name, a typed array by its length
    expect(() => opt.finalizeVariableValues(vars[0] as never)).toThrow(
      new RegExp(`got Variable '${vars[0]!.name}' \\(object\\)`),
    );
    expect(() => opt.finalizeVariableValues([new Float32Array(3)] as never)).toThrow(
      /got \["Float32Array\(3\)"\] \(array\)/,
    );
    expect(vars[0]!.value).toEqual(before);
  });
});
