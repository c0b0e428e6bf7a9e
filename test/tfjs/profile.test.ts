/**
 * Where a step goes, for the user's own model: the FLOPs known from each kernel's shapes, the
 * per-kernel summary and its slow-path flag (pure), a real profile of a CNN on wasm as a replica
 * runs it, and the `rmsprop-pool profile` command.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { byKernel, kernelFlops } from '../../dist/src/tfjs/profile.js';
import { profileLines, profileTrainingStep, useWasmTrainingKernels } from '../../dist/src/tfjs.js';

describe('kernelFlops', () => {
  it('products: 2 m n k, whichever operand is transposed, batched', () => {
    expect(
      kernelFlops(
        'BatchMatMul',
        [
          [1, 4, 3],
          [1, 3, 5],
        ],
        [[1, 4, 5]],
      ),
    ).toBe(2 * 4 * 5 * 3);
    expect(
      kernelFlops(
        'BatchMatMul',
        [
          [1, 3, 4],
          [1, 3, 5],
        ],
        [[1, 4, 5]],
      ),
    ).toBe(2 * 4 * 5 * 3); // a^T b
    expect(
      kernelFlops(
        '_FusedMatMul',
        [
          [6, 4, 3],
          [6, 5, 3],
        ],
        [[6, 4, 5]],
      ),
    ).toBe(2 * 6 * 4 * 5 * 3); // a b^T
  });

  it('convolutions and their gradients: 2 per tap per output (or per dy) element', () => {
    const [x, filter, dy] = [
      [2, 8, 8, 3],
      [3, 3, 3, 4],
      [2, 6, 6, 4],
    ];
    const flops = 2 * 2 * 6 * 6 * 4 * 3 * 3 * 3;
    expect(kernelFlops('Conv2D', [x, filter], [dy])).toBe(flops);
    expect(kernelFlops('Conv2DBackpropInput', [dy, filter], [x])).toBe(flops);
    expect(kernelFlops('Conv2DBackpropFilter', [x, dy], [filter])).toBe(flops);
    const depthwise = [3, 3, 3, 2];
    const dyDepthwise = [2, 6, 6, 6];
    expect(kernelFlops('DepthwiseConv2dNative', [x, depthwise], [dyDepthwise])).toBe(2 * 2 * 6 * 6 * 6 * 9);
    expect(kernelFlops('DepthwiseConv2dNativeBackpropInput', [dyDepthwise, depthwise], [x])).toBe(
      2 * 2 * 6 * 6 * 6 * 9,
    );
    expect(kernelFlops('DepthwiseConv2dNativeBackpropFilter', [x, dyDepthwise], [depthwise])).toBe(
      2 * 2 * 6 * 6 * 6 * 9,
    );
    expect(kernelFlops('Relu', [x], [x])).toBeNull();
  });
});

describe('byKernel', () => {
  const call = (name: string, ms: number, inputShapes: number[][], outputShapes: number[][]) =>
    ({ name, kernelTimeMs: ms, inputShapes, outputShapes }) as never;
  it('sums calls by kernel, most time first; slow where known arithmetic runs under a quarter of the product rate and takes 2% of the time', () => {
    const product = [
      [1, 100, 100],
      [1, 100, 100],
    ];
    const out = [[1, 100, 100]];
    const kernels = byKernel(
      [
        call('BatchMatMul', 0.1, product, out), // 2e6 flops in 0.1 ms: 20 GFLOP/s
        call('BatchMatMul', 0.1, product, out),
        call(
          'Conv2DBackpropInput',
          1,
          [
            [1, 10, 10, 8],
            [3, 3, 4, 8],
          ],
          [[1, 12, 12, 4]],
        ), // 57,600 flops: 0.06 GFLOP/s
        call('Relu', 5, [[100]], [[100]]),
        call(
          'Conv2D',
          0.01,
          [
            [1, 10, 10, 4],
            [3, 3, 4, 8],
          ],
          [[1, 8, 8, 8]],
        ), // slow, but 0.2% of the time
      ],
      20,
    );
    expect(kernels.map((k) => [k.name, k.calls, k.ms, k.slow])).toEqual([
      ['Relu', 1, 5, false],
      ['Conv2DBackpropInput', 1, 1, true],
      ['BatchMatMul', 2, 0.2, false],
      ['Conv2D', 1, 0.01, false],
    ]);
    expect(kernels[2]!.gflops).toBeCloseTo(20, 9);
    expect(kernels[0]!.gflops).toBeNull();
  });
});

describe('profileTrainingStep', () => {
  it('profiles a CNN on wasm as a replica computes it: every gradient kernel, its FLOPs, the time outside kernels', async () => {
    const p = await profileTrainingStep({
      factory: new URL('../modules/tfjs-cnn.mjs', import.meta.url),
      loss: 'meanSquaredError',
      backend: 'wasm',
      batch: 8,
      steps: 1,
    });
    expect(p.backend).toBe('wasm');
    expect(p.kernels).toBe('fast');
    const names = p.perKernel.map((k) => k.name);
    for (const name of ['Conv2D', 'Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'MaxPoolGrad'])
      expect(names).toContain(name);
    // the first convolution: 8 images of 8x8x1, 4 filters 3x3, valid: 8 x 6 x 6 x 4 outputs of 9 taps
    expect(p.perKernel.find((k) => k.name === 'Conv2DBackpropFilter')!.flops).toBe(2 * 8 * 6 * 6 * 4 * 9);
    expect(p.stepMs).toBeGreaterThan(0);
    expect(p.kernelMs).toBeCloseTo(
      p.perKernel.reduce((s, k) => s + k.ms, 0),
      9,
    );
    expect(p.outsideMs).toBeCloseTo(Math.max(0, p.stepMs - p.kernelMs), 9); // the median step's rest
    expect(p.profiledMs).toBeGreaterThan(0);
    const lines = profileLines(p);
    const calls = p.perKernel.reduce((n, k) => n + k.calls, 0);
    expect(lines[0]).toContain(`; ${calls} kernel calls, `);
    expect(lines[0]).toMatch(/^one micro-batch of 8 rows on wasm \(this library's training kernels\): [\d.]+ ms/);
    expect(lines).toContain('| kernel | calls | ms | share | GFLOP/s | |');
  });

  it("leaves the caller's thread as it was: its backend, and its wasm kernels either way", async () => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    await import('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend('cpu');
    const factory = new URL('../modules/tfjs-cnn.mjs', import.meta.url);
    const options = { factory, loss: 'meanSquaredError', backend: 'wasm', batch: 2, steps: 1 } as const;
    // tfjs-wasm's own kernels cannot train a CNN: a 'tfjs' profile fails even with ours on this thread
    const restore = useWasmTrainingKernels(tf);
    await expect(profileTrainingStep({ ...options, kernels: 'tfjs' })).rejects.toThrow(
      /Kernel '(Conv2DBackpropFilter|DepthwiseConv2dNativeBackprop\w+)' not registered for backend 'wasm'/,
    );
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(tf.getBackend()).toBe('cpu');
    restore();
    expect((await profileTrainingStep({ ...options, kernels: 'fast' })).perKernel.map((k) => k.name)).toContain(
      'Conv2DBackpropFilter',
    );
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(tf.getBackend()).toBe('cpu');
  });

  it('refuses a bad batch, naming it', async () => {
    await expect(
      profileTrainingStep({ factory: new URL('../modules/tfjs-cnn.mjs', import.meta.url), batch: 0 }),
    ).rejects.toThrow('profile: `batch` must be a positive integer, got 0 (number)');
  });
});

describe('rmsprop-pool profile', () => {
  const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
  it('prints the table for a factory given as a relative path', () => {
    const run = spawnSync(
      process.execPath,
      [
        CLI,
        'profile',
        '--factory',
        'test/modules/tfjs-cnn.mjs',
        '--batch',
        '4',
        '--steps',
        '1',
        '--loss',
        'meanSquaredError',
      ],
      { encoding: 'utf8', timeout: 120_000, cwd: fileURLToPath(new URL('../..', import.meta.url)) },
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^\| kernel \| calls \| ms \| share \| GFLOP\/s \| \|$/m);
    expect(run.stdout).toMatch(/^\| Conv2D \| 1 \| [\d.]+ \| [\d.]+% \| [\d.]+ \|/m);
    expect(run.stdout).toMatch(/\| outside kernels/);
  });
});
