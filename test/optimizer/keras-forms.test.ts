/**
 * The forms of a Keras optimizer config that Python Keras 3.16 writes or accepts, vendored from
 * real Keras (test/fixtures/keras-forms.json, "made_by" says how): `serialize()`'s wrapped form,
 * a config with the legacy `decay` key, an unknown key; and messages that point a user who wrote
 * a Keras name, or swapped a pair, to what they meant.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { writeCheckpointFile } from '../../dist/src/checkpoint/write.js';
import { readCheckpointFile } from '../../dist/src/checkpoint/read.js';
import { RMSprop, Variable, type KerasConfig } from '../../dist/src/index.js';
import { isAutoName } from '../../dist/src/optimizer/auto-name.js';
import { checkpointDirectory } from '../helpers/files.js';

interface KerasForms {
  serialized: { module: string; class_name: string; config: KerasConfig; registered_name: null };
  legacy_decay: { config: KerasConfig; get_config_after: KerasConfig; warnings: string[] };
  unknown_key: { config: KerasConfig; error: string };
  auto_names: { made: string[]; names: string[] };
}

const forms = JSON.parse(readFileSync(new URL('../fixtures/keras-forms.json', import.meta.url), 'utf8')) as KerasForms;

describe("Keras's config forms", () => {
  it('an optimizer given no name is named as Keras names it, one count per process', () => {
    // a fresh process: the count starts there, as Keras's does
    const script = `import { RMSprop } from ${JSON.stringify(new URL('../../dist/src/index.js', import.meta.url).href)};
      const first = new RMSprop();
      const made = [first, new RMSprop({ name: 'x' }), new RMSprop(), RMSprop.fromConfig(first.getConfig())];
      const { name: _, ...unnamed } = first.getConfig();
      made.push(RMSprop.fromConfig(unnamed));
      console.log(JSON.stringify(made.map((o) => o.name)));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual(forms.auto_names.names);
    // what the CLI leaves out of its settings line as a default
    for (const name of ['rm_sprop', 'rm_sprop_1', 'rm_sprop_12']) expect(isAutoName(name), name).toBe(true);
    for (const name of ['mine', 'rm_sprop_', 'rm_sprop_x', 'rmsprop', 'rm_sprop_1_2'])
      expect(isAutoName(name), name).toBe(false);
  });

  it('fromConfig accepts keras.optimizers.serialize() output and reads the config inside', () => {
    const opt = RMSprop.fromConfig(forms.serialized);
    expect(opt.getConfig()).toEqual(forms.serialized.config);
    expect(opt.name).toBe('mine');
  });

  it('a serialized optimizer of another class is refused, naming it', () => {
    const adam = { ...forms.serialized, class_name: 'Adam' };
    expect(() => RMSprop.fromConfig(adam as unknown as KerasConfig)).toThrow(/serialized "Adam" \(string\) optimizer/);
  });

  it('the legacy `decay` key is ignored with the warning Keras gives, and only when it is set', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const opt = RMSprop.fromConfig(forms.legacy_decay.config);
      expect(opt.getConfig()).toEqual(forms.legacy_decay.get_config_after);
      expect(warn.mock.calls.map((c) => String(c[0]))).toEqual(forms.legacy_decay.warnings);
      warn.mockClear();
      RMSprop.fromConfig({ ...forms.legacy_decay.config, decay: null });
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('an unknown key is reported as the config spells it, as Keras reports it', () => {
    const keras = forms.unknown_key.error.replace(/^ValueError: /, '');
    expect(() => RMSprop.fromConfig(forms.unknown_key.config)).toThrow(keras);
    expect(() => RMSprop.fromConfig(forms.unknown_key.config)).not.toThrow(/learningRat/);
  });
});

describe('messages that point to what was meant', () => {
  it('a Keras (snake_case) name given to the constructor points to the option and to fromConfig', () => {
    expect(() => new RMSprop({ learning_rate: 0.01 } as never)).toThrow(
      /not recognized: \{'learning_rate': 0.01\}; options are camelCase \('learningRate'\): .*RMSprop\.fromConfig/,
    );
  });

  it('a wrong type is quoted with its type', () => {
    expect(() => new RMSprop({ centered: 'true' as never })).toThrow(
      /`centered` must be a boolean, got "true" \(string\)/,
    );
  });

  it('applyGradients with [variable, gradient] pairs says the order is [gradient, variable], and changes nothing', async () => {
    const w = new Variable(Float32Array.of(1, 2, 3), { name: 'w' });
    const opt = new RMSprop({ workers: 0 });
    await expect(opt.applyGradients([[w, Float32Array.of(0.1, 0.2, 0.3)]] as never)).rejects.toThrow(
      /pair 0 is \[variable, gradient\]; pairs are \[gradient, variable\]/,
    );
    expect(Array.from(w.value)).toEqual([1, 2, 3]);
    expect(opt.iterations).toBe(0);
    // one pair, not a list of pairs: the value is shown
    await expect(opt.applyGradients([Float32Array.of(0.1, 0.2, 0.3), w] as never)).rejects.toThrow(
      /expected an array of \[gradient, variable\] pairs, got \["Float32Array\(3\)","Variable 'w'"\] \(array\)/,
    );
  });
});

describe('slot names as Keras makes them', () => {
  const { slot_names: fixture } = forms as unknown as {
    slot_names: {
      variables: { path: string; shape: number[] }[];
      optimizer_variables: string[];
    };
  };
  const model = () =>
    fixture.variables.map(
      (v) => new Variable(new Float32Array(v.shape.reduce((a, b) => a * b, 1)), { name: v.path, shape: v.shape }),
    );
  const options = { momentum: 0.5, centered: true, useEma: true, gradientAccumulationSteps: 2, workers: 0 };
  const files = checkpointDirectory('forms');

  it("the variable's path with '/' made '_' (Keras 3.16 keeps ':')", () => {
    const opt = new RMSprop(options);
    opt.build(model());
    expect(opt.variables.map((v) => v.name)).toEqual(fixture.optimizer_variables);
  });

  it('a checkpoint written with the former names (dense/kernel_velocity) still loads, into the same state', async () => {
    const vars = model();
    const opt = new RMSprop(options);
    await opt.apply(
      vars.map((v) => v.value.map((_, i) => 0.1 * (i + 1))),
      vars,
    );
    const path = files.fresh();
    await opt.save(path, { variables: true });
    const saved = await readCheckpointFile(path);
    const former = saved.state.map((a) => ({ ...a, name: a.name.replace(/^dense_(kernel|bias)_/, 'dense/$1_') }));
    expect(former.map((a) => a.name)).toContain('dense/kernel_velocity');
    await writeCheckpointFile(path, { ...saved, state: former });
    const loaded = await RMSprop.load(path, model(), { workers: 0 });
    expect(loaded.variables.map((v) => v.name)).toEqual(fixture.optimizer_variables);
    expect(loaded.variables.map((v) => Array.from(v.value))).toEqual(opt.variables.map((v) => Array.from(v.value)));
  });

  it('variables whose slots would share a name are refused at build, naming both', () => {
    const a = new Variable(new Float32Array(2), { name: 'a/b' });
    const b = new Variable(new Float32Array(2), { name: 'a_b' });
    expect(() => new RMSprop({ workers: 0 }).build([a, b])).toThrow(
      /variables 0 \('a\/b'\) and 1 \('a_b'\) would give their slots the same names \('a_b_velocity'/,
    );
  });
});
