import { formatClock } from './format-units.js';

/** Where a progress bar draws: a TTY stream redraws one line; anything else gets plain lines. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Options of a progress bar. */
export interface ProgressBarOptions {
  /** Units of work in all; 0 or undefined when unknown (no bar, no ETA, only count and rate). */
  total?: number;
  /** Words before the bar, e.g. 'epoch 3/10'. */
  label?: string;
  /** The unit shown with the rate, e.g. 'batch' → '12.3 batch/s'. */
  unit?: string;
  /** Milliseconds between redraws on a TTY. Default 100. */
  redrawIntervalMs?: number;
  /** Off a TTY, a plain line is written at every this fraction of the total. Default 0.25. */
  lineEvery?: number;
  /** The clock, in milliseconds (tests). Default performance.now. */
  now?: () => number;
}

/**
 * A one-line progress bar with rate and ETA:
 * `epoch 1/3  [#########.........]  47%  470/1000  152.1 batch/s  ETA 0:03`.
 *
 * On a TTY it redraws in place (throttled); on a pipe or file it writes a few plain lines
 * (every `lineEvery` of the total) so logs stay short. Call `finish()` at the end.
 */
export class ProgressBar {
  readonly #stream: ProgressStream;
  readonly #total: number;
  readonly #label: string;
  readonly #unit: string;
  readonly #interval: number;
  readonly #lineEvery: number;
  readonly #now: () => number;
  readonly #start: number;
  #current = 0;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #nextLineAt: number;
  #finished = false;
  #note = '';

  constructor(stream: ProgressStream, options: ProgressBarOptions = {}) {
    this.#stream = stream;
    this.#total = options.total ?? 0;
    this.#label = options.label ?? '';
    this.#unit = options.unit ?? 'it';
    this.#interval = options.redrawIntervalMs ?? 100;
    this.#lineEvery = options.lineEvery ?? 0.25;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
    this.#nextLineAt = this.#lineEvery;
  }

  /** Units done so far. */
  get current(): number {
    return this.#current;
  }

  /** Text shown after the rate, e.g. 'loss 0.4123  lr 0.1'; drawn at the next redraw. */
  setNote(note: string): void {
    this.#note = note;
  }

  /** Advances by `amount` units and redraws when due. */
  tick(amount = 1): void {
    this.update(this.#current + amount);
  }

  /** Sets the units done and redraws when due. */
  update(current: number): void {
    if (this.#finished) return;
    this.#current = current;
    const now = this.#now();
    if (this.#stream.isTTY) {
      if (now - this.#lastDraw >= this.#interval) {
        this.#lastDraw = now;
        this.#stream.write(`\r${this.#fit(this.render(now))}\x1b[K`);
      }
    } else if (this.#total > 0 && current / this.#total >= this.#nextLineAt && current < this.#total) {
      while (current / this.#total >= this.#nextLineAt) this.#nextLineAt += this.#lineEvery;
      this.#stream.write(`${this.render(now)}\n`);
    }
  }

  /** Draws the final state and ends the line. Further updates are ignored. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    const text = this.render(this.#now());
    this.#stream.write(this.#stream.isTTY ? `\r${this.#fit(text)}\x1b[K\n` : `${text}\n`);
  }

  /** The line as it would be drawn at time `now`. */
  render(now = this.#now()): string {
    const elapsedSeconds = Math.max(0, (now - this.#start) / 1000);
    const rate = elapsedSeconds > 0 ? this.#current / elapsedSeconds : 0;
    const parts: string[] = [];
    if (this.#label) parts.push(this.#label);
    if (this.#total > 0) {
      const fraction = Math.min(1, Math.max(0, this.#current / this.#total));
      const width = 20;
      const filled = Math.round(fraction * width);
      parts.push(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`, `${Math.floor(fraction * 100)}%`.padStart(4));
      parts.push(`${this.#current}/${this.#total}`);
    } else {
      parts.push(String(this.#current));
    }
    parts.push(`${rate >= 100 ? rate.toFixed(0) : rate.toFixed(1)} ${this.#unit}/s`);
    if (this.#note) parts.push(this.#note);
    if (this.#total > 0 && !this.#finished) {
      const remaining = rate > 0 ? (this.#total - this.#current) / rate : Number.NaN;
      parts.push(`ETA ${formatClock(remaining)}`);
    } else {
      parts.push(`in ${formatClock(elapsedSeconds)}`);
    }
    return parts.join('  ');
  }

  #fit(text: string): string {
    const columns = this.#stream.columns;
    return columns !== undefined && columns > 1 && text.length >= columns ? text.slice(0, columns - 1) : text;
  }
}
