// One writer at a time: a FIFO async mutex. Holding it across awaits keeps "run to
// completion" true for the filesystem's state (STYLE.md).
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  /** Holders running or waiting. */
  private pending = 0;

  /** Nobody holds or waits for the mutex: a synchronous look at the state sees it between operations. */
  get idle(): boolean {
    return this.pending === 0;
  }

  /** Runs `fn` after every earlier holder has finished; errors propagate to the caller only. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(fn);
    // The next holder waits for this one to settle, whatever its outcome.
    this.tail = result.then(
      () => {
        this.pending--;
      },
      () => {
        this.pending--;
      },
    );
    return result;
  }
}
