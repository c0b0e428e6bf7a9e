/** Training progress: a bar on a terminal, and a line per tenth of the run either way. */
import cliProgress from 'cli-progress';

export class Progress {
  readonly #bar: cliProgress.SingleBar | null;
  readonly #job: string;
  readonly #total: number;
  readonly #started = performance.now();
  #lastLine = 0;

  constructor(job: string, total: number) {
    this.#job = job;
    this.#total = total;
    const progress = '{value}/{total} steps | {rate} steps/s | ETA {eta_formatted} | loss {loss}';
    this.#bar = process.stderr.isTTY
      ? new cliProgress.SingleBar(
          { format: `${job.padEnd(9)} |{bar}| ${progress}`, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : null;
    this.#bar?.start(total, 0, { rate: '-', loss: '-' });
  }

  update(step: number, loss: number): void {
    const rate = (step / ((performance.now() - this.#started) / 1000)).toFixed(1);
    this.#bar?.update(step, { rate, loss: loss.toFixed(4) });
    // a line per tenth of the run: the loss as it falls, also when not on a terminal
    if (step === this.#total || step - this.#lastLine >= this.#total / 10) {
      this.#lastLine = step;
      if (this.#bar) this.#bar.updateETA();
      else {
        const position = `step ${String(step).padStart(5)}/${this.#total}`;
        console.log(`${this.#job.padEnd(9)} ${position}  loss ${loss.toFixed(4)}  ${rate} steps/s`);
      }
    }
  }

  stop(): void {
    this.#bar?.stop();
  }
}
