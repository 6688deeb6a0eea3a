/**
 * Work that a request starts and does not wait for, such as the mail of a forgotten password, so
 * that the answer takes as long whether there was anything to do or not. Each piece of work handles
 * its own errors, the rest going to the `onError` of its start; closing the server waits for what is still running.
 */
export class BackgroundWork {
  readonly #running = new Set<Promise<void>>()

  /** Starts `work` once the current request has been answered; what it throws goes to `onError`. */
  run (work: () => Promise<void>, onError: (error: unknown) => void): void {
    // setImmediate: not even the first steps of the work run before the answer is on its way.
    const running: Promise<void> = new Promise(resolve => setImmediate(resolve))
      .then(work).catch(onError).finally(() => { this.#running.delete(running) })
    this.#running.add(running)
  }

  /** Resolves once everything started so far has ended. */
  async settled (): Promise<void> {
    await Promise.allSettled([...this.#running])
  }
}
