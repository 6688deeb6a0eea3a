/**
 * Work that a request starts and does not wait for, such as the mail of a forgotten password, so
 * that the answer takes as long whether there was anything to do or not. Each piece of work handles
 * its own errors, the rest going to the `onError` of its start; closing the server waits for what is still running.
 */
export class BackgroundWork {
  readonly #running = new Set<Promise<void>>()

  /** Starts `work`; what it throws goes to `onError`. */
  run (work: () => Promise<void>, onError: (error: unknown) => void): void {
    const running: Promise<void> = work().catch(onError).finally(() => { this.#running.delete(running) })
    this.#running.add(running)
  }

  /** Resolves once everything started so far has ended. */
  async settled (): Promise<void> {
    await Promise.allSettled([...this.#running])
  }
}
