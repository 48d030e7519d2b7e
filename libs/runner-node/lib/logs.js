// A task's log lines, shipped to the Execution API in numbered batches (the protocol of the
// Python worker's LogShipper, services/worker/src/airlock/worker/logs.py): lines go out every
// `batchMs`, when a batch grows large, and when the try ends; a batch whose upload failed is
// sent again with the same sequence number (the server stores a repeated batch once), and the
// backlog is bounded so that an unreachable API cannot exhaust the runner's memory.
// @ts-check

export const BATCH_MAX_LINES = 2000;
export const MAX_LINE_CHARS = 16_384;
export const MAX_BACKLOG_LINES = 100_000;
export const RUNNER_PREFIX = "[airlock runner-node] ";

/** @typedef {import("./api.generated.js").LogBatch} LogBatch */

export class LogShipper {
  /**
   * @param {(batch: LogBatch) => Promise<void>} send
   * @param {{tryNumber: number, batchMs: number, onError?: (error: unknown) => void}} options
   */
  constructor(send, { tryNumber, batchMs, onError }) {
    this.send = send;
    this.tryNumber = tryNumber;
    this.batchMs = batchMs;
    this.onError = onError ?? (() => {});
    /** @type {string[]} */
    this.lines = [];
    /** @type {LogBatch[]} */
    this.unsent = [];
    this.seq = 0;
    this.lost = 0;
    /** @type {NodeJS.Timeout | null} */
    this.timer = null;
    /** @type {Promise<boolean>} */
    this.flushing = Promise.resolve(true);
  }

  /**
   * Add one log record (may hold several lines).
   * @param {string} text
   */
  add(text) {
    for (const line of text.split("\n")) {
      const clean = line.endsWith("\r") ? line.slice(0, -1) : line;
      for (let start = 0; start < Math.max(clean.length, 1); start += MAX_LINE_CHARS) {
        this.lines.push(clean.slice(start, start + MAX_LINE_CHARS));
      }
    }
    if (this.lines.length >= BATCH_MAX_LINES) {
      void this.flush();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.batchMs);
      this.timer.unref();
    }
  }

  /**
   * A line from the runner itself (why the task failed to start, what it could not do).
   * @param {string} message
   */
  note(message) {
    this.add(RUNNER_PREFIX + message);
  }

  /**
   * Send what is pending; resolves true when nothing is left unsent. Flushes run one at a time
   * so batches reach the server in order.
   * @returns {Promise<boolean>}
   */
  flush() {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.flushing = this.flushing.then(() => this.sendPending());
    return this.flushing;
  }

  /** @returns {Promise<boolean>} */
  async sendPending() {
    this.cut();
    while (this.unsent.length > 0) {
      const batch = this.unsent[0];
      try {
        await this.send(batch);
      } catch (error) {
        this.onError(error);
        return false;
      }
      this.unsent.shift();
    }
    return true;
  }

  cut() {
    let backlog = this.lines.length + this.unsent.reduce((n, b) => n + b.lines.length, 0);
    while (backlog > MAX_BACKLOG_LINES && this.unsent.length > 0) {
      const dropped = /** @type {LogBatch} */ (this.unsent.shift()).lines.length;
      backlog -= dropped;
      this.lost += dropped;
    }
    if (this.lines.length > 0 && this.lost > 0) {
      this.lines.unshift(
        `${RUNNER_PREFIX}${this.lost} earlier log lines were lost: the Execution API did not take them`,
      );
      this.lost = 0;
    }
    while (this.lines.length > 0) {
      const lines = this.lines.splice(0, BATCH_MAX_LINES);
      this.unsent.push({ try_number: this.tryNumber, seq: this.seq, lines });
      this.seq += 1;
    }
  }
}
