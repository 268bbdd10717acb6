// Waiting for something to become true, with a message that says what never did.

export const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

/** Polls `fn` every `intervalMs` until it returns a truthy value; throws with `what` on timeout. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 20_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message ?? lastErr}` : ''}`);
    }
    await sleep(intervalMs);
  }
}
