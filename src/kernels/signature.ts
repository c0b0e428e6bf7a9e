/**
 * A program's parameters, derived by running it once per variant against a recorder: the
 * arrays it touches and the words it reads, in storage order. The WebAssembly signatures and
 * the loader's argument order both come from here, so they cannot disagree.
 */
import { FIELD_ORDER, type Field } from '../memory/slots.js';
import { flagsOf, variantCount, type Expr, type Ops, type Program } from './program.js';
import { STEP_WORDS, VARIABLE_WORDS, type StepWord, type VariableWord } from './rmsprop-words.js';

/** What a program reads and writes, in storage order: its parameters, derived by running it. */
export interface Signature {
  readonly arrays: readonly Field[];
  readonly stepWords: readonly StepWord[];
  readonly variableWords: readonly VariableWord[];
  /** Step words used as switches (passed as integers). */
  readonly switches: readonly StepWord[];
  /** Whether some variant takes a shard mean (it is passed the shard count and stride). */
  readonly shards: boolean;
  /** Per variant: whether it writes anything (a kernel that would do nothing is not called). */
  readonly writes: readonly boolean[];
}

const signatures = new WeakMap<Program, Signature>();

export function signatureOf(program: Program): Signature {
  let signature = signatures.get(program);
  if (signature === undefined) {
    const arrays = new Set<Field>();
    const stepWords = new Set<StepWord>();
    const variableWords = new Set<VariableWord>();
    const switches = new Set<StepWord>();
    const writes: boolean[] = [];
    let shards = false;
    const e = '' as Expr;
    for (let variant = 0; variant < variantCount(program); variant++) {
      let stored = false;
      const recorder: Ops = {
        load: (a) => (arrays.add(a), e),
        shardMean: (a) => (arrays.add(a), (shards = true), e),
        store: (a) => (arrays.add(a), (stored = true), e),
        step: (w) => (stepWords.add(w), e),
        variable: (w) => (variableWords.add(w), e),
        add: () => e,
        sub: () => e,
        mul: () => e,
        div: () => e,
        min: () => e,
        max: () => e,
        neg: () => e,
        sqrt: () => e,
        zero: () => e,
        bind: () => e,
        pick: (w) => (switches.add(w), e),
        inFloat32: (body) => body(),
        inNumpy: (body) => body(),
        cast: () => e,
      };
      const result = program.body(recorder, flagsOf(program, variant));
      writes.push(stored || result !== undefined);
    }
    signature = {
      arrays: FIELD_ORDER.filter((a) => arrays.has(a)),
      stepWords: STEP_WORDS.names.filter((w) => stepWords.has(w)),
      variableWords: VARIABLE_WORDS.names.filter((w) => variableWords.has(w)),
      switches: STEP_WORDS.names.filter((w) => switches.has(w)),
      shards,
      writes,
    };
    signatures.set(program, signature);
  }
  return signature;
}
