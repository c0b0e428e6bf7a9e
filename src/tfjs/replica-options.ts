/**
 * The tfjs replica's options, checked on the calling thread when a trainer is built: a bad one
 * is refused there, naming it, before any thread starts. What the check returns is what the
 * replica threads receive: the factory as a URL string, the backend chosen.
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isInstalled } from '../common/installed.js';
import { snakeToCamel } from '../common/keras-names.js';
import { refuseUnknownKeys } from '../common/option-keys.js';
import { quote } from '../common/quote.js';
import { isTfjsLoss, TFJS_LOSSES, type TfjsLoss } from './losses.js';
import type { TfjsKernels } from './wasm/index.js';

/** A tfjs backend a replica thread can run. */
export type TfjsBackend = 'cpu' | 'wasm';

/** `replicaOptions` of a trainer running `tfjsReplica`. */
export interface TfjsReplicaOptions {
  /**
   * The module exporting `createModel()` (and optionally a `loss` function): a `URL`, a `file:`
   * URL string or an absolute path; `new URL('./model.js', import.meta.url)` names a file beside
   * yours. `createModel()` returns (or resolves to) the tfjs-layers model, compiled or not, the
   * same architecture as the one whose weights the trainer's variables hold (see
   * `modelVariables`). Called once per replica thread, after the backend has started.
   */
  readonly factory?: string | URL;
  /**
   * Instead of `factory`: the model's topology, as `model.toJSON(null, false)` gives it; every
   * replica thread rebuilds the model from it (`tf.models.modelFromJSON`). Takes the layers
   * tfjs-layers registers; a model with a custom layer needs a factory module that registers it.
   */
  readonly topology?: object;
  /**
   * The loss, by name: any tfjs-layers `compile` takes (`'categoricalCrossentropy'`,
   * `'meanSquaredError'`, ...), computed as `trainOnBatch` computes it, or one of tfjs-core's
   * `tf.losses` (`'softmaxCrossEntropy'`, ...). Default: the factory module's `loss` export, else
   * the loss the model was compiled with.
   */
  readonly loss?: TfjsLoss;
  /**
   * The metrics to compute with the loss, by name, as `compile({ metrics })` takes them
   * (`'accuracy'`, `['accuracy', 'mse']`, ...): each micro-batch's values come back with its loss
   * (`trainer.metrics`), and `trainer.evaluate` computes them. Default: the metrics the factory's
   * model was compiled with; none for a topology.
   */
  readonly metrics?: string | readonly string[];
  /** tfjs backend on the replica threads. Default: 'wasm' when @tensorflow/tfjs-backend-wasm is installed, else 'cpu'. */
  readonly backend?: TfjsBackend;
  /**
   * On wasm, which kernels compute the gradients: 'fast' (the default) registers
   * `useWasmTrainingKernels` on the replica threads (every product on XNNPACK, and the kernels a
   * CNN or an Embedding needs); 'tfjs' leaves tfjs-wasm's own.
   */
  readonly kernels?: TfjsKernels;
}

/** The options as a replica thread receives them (`trainer.replicaOptions`). */
export interface CheckedTfjsReplicaOptions {
  /** The factory module's URL, or null for a topology. */
  readonly factory: string | null;
  readonly topology: object | null;
  readonly loss: TfjsLoss | null;
  /** The metrics' names, or null: the factory's model's own. */
  readonly metrics: readonly string[] | null;
  readonly backend: TfjsBackend;
  readonly kernels: TfjsKernels;
}

const KEYS = ['factory', 'topology', 'loss', 'metrics', 'backend', 'kernels'];

/** Checks the options of a trainer running `tfjsReplica`; throws naming the option, with what to pass. */
export function checkTfjsReplicaOptions(options: unknown): CheckedTfjsReplicaOptions {
  const refuse = (key: string, expected: string) =>
    new TypeError(`tfjsReplica: \`replicaOptions.${key}\` must be ${expected}, got ${quote((options as never)[key])}`);
  if (options === null || typeof options !== 'object') {
    throw new TypeError(
      `tfjsReplica: \`replicaOptions\` must be an object { factory or topology, loss?, metrics?, backend?, kernels? }, got ${quote(options)}`,
    );
  }
  refuseUnknownKeys(options, { caller: 'tfjsReplica', known: KEYS, spelling: 'camelCase', noun: '`replicaOptions`' });
  const { factory, topology, loss, metrics, backend, kernels = 'fast' } = options as Partial<Record<string, unknown>>;
  if (topology !== undefined && (topology === null || typeof topology !== 'object' || factory !== undefined)) {
    throw refuse('topology', "the model's JSON, `model.toJSON(null, false)`, and no `factory` with it");
  }
  const names = typeof metrics === 'string' ? [metrics] : metrics;
  if (names !== undefined && (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))) {
    throw refuse(
      'metrics',
      "metric names as compile takes them ('accuracy', ['accuracy', 'mse'], ...); a function cannot reach the " +
        "replica threads: compile the factory's model with it",
    );
  }
  if (typeof loss === 'function') {
    throw refuse(
      'loss',
      'a name (a function cannot reach the replica threads: export it from the factory module as `loss`)',
    );
  }
  if (loss !== undefined && !isTfjsLoss(loss)) {
    // Keras's snake_case name, as a Python user writes it: say tfjs's
    const camel = typeof loss === 'string' ? snakeToCamel(loss) : '';
    const hint = isTfjsLoss(camel) ? ` (Keras's '${loss as string}' is tfjs's '${camel}')` : '';
    throw refuse('loss', `one of ${TFJS_LOSSES.map((n) => `'${n}'`).join(', ')}${hint}`);
  }
  if (backend !== undefined && backend !== 'cpu' && backend !== 'wasm') throw refuse('backend', "'cpu' or 'wasm'");
  if (kernels !== 'fast' && kernels !== 'tfjs') throw refuse('kernels', "'fast' or 'tfjs'");
  const chosen = backend ?? (isInstalled('@tensorflow/tfjs-backend-wasm') ? 'wasm' : 'cpu');
  if (!isInstalled(`@tensorflow/tfjs-backend-${chosen}`)) {
    throw new Error(
      `tfjsReplica: the ${chosen} backend${backend === undefined ? ' (the default)' : ''} is not installed: ` +
        `npm install @tensorflow/tfjs-backend-${chosen}`,
    );
  }
  return Object.freeze({
    factory: topology === undefined ? factoryUrl(factory) : null,
    topology: topology ?? null,
    loss: loss ?? null,
    metrics: names === undefined ? null : Object.freeze([...(names as string[])]),
    backend: chosen,
    kernels,
  });
}

/** The factory module's URL: a URL, a file: URL string or an absolute path (a relative path would resolve against this library's folder). */
function factoryUrl(factory: unknown): string {
  if (factory instanceof URL) return factory.href;
  if (typeof factory === 'string' && isAbsolute(factory)) return pathToFileURL(factory).href;
  if (typeof factory === 'string' && URL.canParse(factory)) return factory;
  throw new TypeError(
    `tfjsReplica: \`replicaOptions.factory\` must be the model module's URL or absolute path, got ${quote(factory)}` +
      (typeof factory === 'string'
        ? ": a relative path would be resolved from this library's folder, not yours; pass new URL('./model.js', import.meta.url)"
        : ''),
  );
}
