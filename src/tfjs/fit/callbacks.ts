/**
 * The callbacks of a fit, as tfjs-layers' `configureCallbacks` sets them up: the epoch's
 * averages of the batches' logs first (tfjs's `BaseLogger`, in float32 as its tensors are), then
 * the progress printer of `verbose`, the user's callbacks, and tfjs's own `History` last. They
 * run on the calling thread, in tfjs's `CallbackList`, with tfjs's logs: numbers by name.
 */
import { SingleBar } from 'cli-progress';
import type { FitCallback } from './fit-args.js';

/** Logs by name, as tfjs's callbacks receive them. */
export type Logs = Record<string, number>;

/** What tfjs's `CallbackList` calls on each callback. */
interface CallbackLike {
  setParams(params: Record<string, unknown>): void;
  setModel(model: unknown): void;
}

/** The classes of tfjs-layers a fit runs its callbacks with. */
export interface CallbackClasses {
  CallbackList: new (callbacks: object[]) => CallbackRunner;
  History: new () => FitHistory;
  CustomCallback: new (args: object, yieldEvery?: unknown) => object;
}

/** tfjs's `CallbackList`. */
export interface CallbackRunner {
  setParams(params: Record<string, unknown>): void;
  setModel(model: unknown): void;
  onTrainBegin(logs?: Logs): Promise<void>;
  onTrainEnd(logs?: Logs): Promise<void>;
  onEpochBegin(epoch: number, logs?: Logs): Promise<void>;
  onEpochEnd(epoch: number, logs?: Logs): Promise<void>;
  onBatchBegin(batch: number, logs?: Logs): Promise<void>;
  onBatchEnd(batch: number, logs?: Logs): Promise<void>;
}

/** tfjs's `History`, what `model.fit` resolves to: `history.loss[epoch]`, `history.val_acc[epoch]`, ..., and `epoch`, `params`. */
export interface FitHistory {
  epoch: number[];
  history: Record<string, number[]>;
  params: Record<string, unknown>;
  syncData(): Promise<void>;
}

/** The parameters tfjs's callbacks read (`this.params`). */
export interface FitParams {
  readonly epochs: number;
  readonly initialEpoch: number;
  readonly samples: number | null;
  readonly steps: number | null;
  readonly batchSize: number | null;
  readonly verbose: 0 | 1 | 2;
  readonly doValidation: boolean;
  /** The names of the logs: the model's metrics names, then with `val_` before them when validating. */
  readonly metrics: readonly string[];
}

/** What a callback of ours returns: it does its work before returning. */
const done = Promise.resolve();

/** A callback of ours: the methods tfjs's `CallbackList` calls, those it does not need doing nothing. */
class OwnCallback implements CallbackLike {
  protected params: FitParams | null = null;
  setParams(params: Record<string, unknown>): void {
    this.params = params as unknown as FitParams;
  }
  setModel(): void {}
  onTrainBegin(): Promise<void> {
    return done;
  }
  onTrainEnd(): Promise<void> {
    return done;
  }
  onEpochBegin(_epoch: number): Promise<void> {
    return done;
  }
  onEpochEnd(_epoch: number, _logs?: Logs): Promise<void> {
    return done;
  }
  onBatchBegin(): Promise<void> {
    return done;
  }
  onBatchEnd(_batch: number, _logs?: Logs): Promise<void> {
    return done;
  }
}

const f32 = Math.fround;

/**
 * tfjs's `BaseLogger`: each metric's epoch value is the batches' values weighted by their rows,
 * summed in float32 and times float32 1/rows, as its tensors compute it.
 */
class EpochAverages extends OwnCallback {
  #seen = 0;
  #totals = new Map<string, number>();

  override onEpochBegin(): Promise<void> {
    this.#seen = 0;
    this.#totals.clear();
    return done;
  }

  override onBatchEnd(_batch: number, logs: Logs = {}): Promise<void> {
    const size = logs.size ?? 0;
    this.#seen += size;
    for (const key of this.params!.metrics) {
      const value = logs[key];
      if (value !== undefined) this.#totals.set(key, f32((this.#totals.get(key) ?? 0) + f32(value * size)));
    }
    return done;
  }

  override onEpochEnd(_epoch: number, logs?: Logs): Promise<void> {
    if (logs !== undefined) for (const [key, total] of this.#totals) logs[key] = f32(f32(1 / this.#seen) * total);
    return done;
  }
}

/** `verbose`: 1 a progress bar per epoch (on a terminal) and a closing line, 2 only the closing line; on stderr. */
class ProgressPrinter extends OwnCallback {
  #bar: SingleBar | null = null;
  #started = 0;
  #batches = 0;

  override onEpochBegin(epoch: number): Promise<void> {
    this.#started = performance.now();
    this.#batches = 0;
    const { verbose, epochs, steps, samples, batchSize } = this.params!;
    if (verbose !== 1) return done;
    process.stderr.write(`Epoch ${epoch + 1} / ${epochs}\n`);
    this.#bar = new SingleBar({
      format: ' {bar} {value}/{total} | {eta_formatted} left | loss={loss}',
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 20,
    });
    const total = steps ?? (samples !== null && batchSize !== null ? Math.ceil(samples / batchSize) : 0);
    this.#bar.start(total, 0, { loss: '-' });
    return done;
  }

  override onBatchEnd(_batch: number, logs: Logs = {}): Promise<void> {
    this.#batches++;
    const loss = logs.loss === undefined ? '-' : logs.loss.toFixed(4);
    if (this.#bar !== null && this.#bar.getTotal() < this.#batches) this.#bar.setTotal(this.#batches);
    this.#bar?.update(this.#batches, { loss });
    return done;
  }

  override onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    this.#bar?.stop();
    this.#bar = null;
    const ms = performance.now() - this.#started;
    const values = this.params!.metrics.filter((key) => logs[key] !== undefined).map(
      (key) => `${key}=${logs[key]!.toPrecision(4)}`,
    );
    const perStep = this.#batches > 0 ? ` ${(ms / this.#batches).toFixed(0)} ms/step` : '';
    process.stderr.write(
      `Epoch ${epoch + 1} / ${this.params!.epochs}: ${(ms / 1000).toFixed(1)} s${perStep} - ${values.join(' ')}\n`,
    );
    return done;
  }
}

/** The user's callbacks as tfjs's `standardizeCallbacks` makes them: a callback object as it is, a plain one a `CustomCallback`. */
function standardize(
  classes: CallbackClasses,
  callbacks: FitCallback | readonly FitCallback[] | undefined,
  yieldEvery: unknown,
): object[] {
  const listed =
    callbacks === undefined ? [] : Array.isArray(callbacks) ? [...(callbacks as FitCallback[])] : [callbacks];
  return listed.map((c) =>
    typeof (c as Partial<CallbackLike>).setParams === 'function' ? c : new classes.CustomCallback(c, yieldEvery),
  );
}

/** The fit's callback list (set with `params` and `model`) and its `History`. */
export function fitCallbacks(
  classes: CallbackClasses,
  model: unknown,
  params: FitParams,
  callbacks: FitCallback | readonly FitCallback[] | undefined,
  yieldEvery: unknown,
): { list: CallbackRunner; history: FitHistory } {
  const history = new classes.History();
  const list = new classes.CallbackList([
    new EpochAverages(),
    ...(params.verbose > 0 ? [new ProgressPrinter()] : []),
    ...standardize(classes, callbacks, yieldEvery),
    history,
  ]);
  list.setParams({ ...params, metrics: [...params.metrics] });
  list.setModel(model);
  return { list, history };
}
