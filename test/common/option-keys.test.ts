/** The one check of unknown option keys every entry point uses, its messages written out by hand. */
import { describe, expect, it } from 'vitest';
import { refuseUnknownKeys, unknownKeys } from '../../dist/src/common/option-keys.js';

describe('refuseUnknownKeys', () => {
  const known = ['learningRate', 'rho', 'name'];

  it('takes known keys, and a key holding undefined as an absent option', () => {
    expect(() =>
      refuseUnknownKeys({ rho: 1, name: 'a', typo: undefined }, { caller: 'F', known, spelling: 'camelCase' }),
    ).not.toThrow();
    expect(unknownKeys({ rho: 1, x: 2, y: undefined, z: null }, known)).toEqual(['x', 'z']);
  });

  it('names every unknown key and what it takes', () => {
    expect(() => refuseUnknownKeys({ lr: 1, rhoo: 2 }, { caller: 'F', known, spelling: 'camelCase' })).toThrow(
      new TypeError("F: unknown option(s) 'lr', 'rhoo'; it takes learningRate, rho, name"),
    );
  });

  it("hints the camelCase spelling of Keras's snake_case names", () => {
    expect(() =>
      refuseUnknownKeys({ learning_rate: 1 }, { caller: 'F', known, spelling: 'camelCase', tail: '.' }),
    ).toThrow(
      new TypeError(
        "F: unknown option(s) 'learning_rate'; options are camelCase ('learningRate'); it takes learningRate, rho, name.",
      ),
    );
  });

  it("Keras's form for a config: values listed, the snake_case spelling hinted", () => {
    const keys = {
      caller: 'fromConfig',
      known: ['learning_rate', 'rho'],
      spelling: 'snake_case',
      kerasForm: true,
    } as const;
    expect(() => refuseUnknownKeys({ learningRate: 0.5, other: { a: [1] } }, keys)).toThrow(
      new TypeError(
        "fromConfig: Argument(s) not recognized: {'learningRate': 0.5, 'other': {\"a\":[1]}}; a Keras config's keys are snake_case ('learning_rate')",
      ),
    );
  });

  it('says why a key is refused where a neighbouring API takes it, and names the noun', () => {
    const keys = {
      caller: 'fit',
      known: ['epochs'],
      spelling: 'camelCase',
      noun: '`args`',
      why: { steps: 'not here' },
    } as const;
    expect(() => refuseUnknownKeys({ steps: 1, epoch: 2 }, keys)).toThrow(
      new TypeError("fit: unknown `args` 'steps' (not here), 'epoch'; it takes epochs"),
    );
  });
});
