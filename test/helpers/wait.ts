/** Waiting in tests: polls a condition until it holds, or fails after a bound. */

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Polls `check` every `pollMs` until it is true; throws `timed out waiting for WHAT` after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, pollMs = 300): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(pollMs);
  }
}
