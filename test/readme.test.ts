/** The README's and the docs pages' examples run as written, against the built package (imported by its name). */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { guideExamples } from './helpers/guide.js';

const all = guideExamples(fileURLToPath(new URL('..', import.meta.url)));
/** A block that starts `// file: NAME` is a module the next examples import: written, not run. */
const fileName = (code: string) => /^\/\/ file: (\S+)/.exec(code)?.[1];
const modules = all.filter((code) => fileName(code) !== undefined);
const blocks = all.filter((code) => fileName(code) === undefined);
const dir = new URL('./.readme/', import.meta.url);

/** What each example must print, in reading order (`GUIDE_PAGES`). */
const expectedOutput = [
  /^3 -?0\.\d+\n$/,
  /^3 \[[^\]]+\]\n\[ 'iteration', 'learning_rate', 'w_velocity', 'b_velocity' \]\n$/,
  /^2 0\.00\d+\n$/,
  /"global_clipnorm":1,/,
  /^true 240\n248\n$/,
  /^BatchMatMul,_FusedMatMul,Conv2D,FusedConv2D,DepthwiseConv2dNative,FusedDepthwiseConv2D,Conv2DBackpropInput,MaxPoolGrad,AvgPoolGrad,Unpack,GatherV2,Equal,NotEqual,Greater,GreaterEqual,Less,LessEqual,LogicalAnd,LogicalOr 4 256x32 64 36\n$/,
  /^val_loss val_acc loss acc 1\n$/,
  /^true 1\.0 -2\.0 0\.5 3\.0\n$/,
  /^\{\n {2}factory: 'file:\/\/\/.*\/cnn-model\.mjs',\n {2}topology: null,\n {2}loss: null,\n {2}metrics: null,\n {2}backend: 'wasm',\n {2}kernels: 'fast'\n\} true 64\/64\n$/,
  /^4 iteration learning_rate w_average w_velocity w_momentum\n$/,
  /^1 512 \[ 0\.46826171875, -1\.03125, 2\.03125 \]\n$/,
];

describe('README and docs examples', () => {
  it('has the examples this test knows about', () => {
    expect(blocks.length).toBe(expectedOutput.length);
    expect(modules.map(fileName)).toEqual(['linear-replica.mjs', 'cnn-model.mjs']);
  });
  it.each(blocks.map((code, i) => [i + 1, code] as const))('example %i runs and prints what it claims', (i, code) => {
    mkdirSync(dir, { recursive: true });
    for (const module of modules) writeFileSync(new URL(fileName(module)!, dir), module);
    const file = new URL(`example-${i}.mjs`, dir);
    writeFileSync(file, code);
    const run = spawnSync(process.execPath, [file.pathname], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(expectedOutput[i - 1]!);
  });
});
