// Counts the timers code creates, unref'd ones included (which
// process.getActiveResourcesInfo() does not list), by wrapping the global
// setTimeout and setInterval while `during` runs. Code that captured the
// functions before (a module-level reference) is not seen.

export async function countTimersCreated(during: () => Promise<void>): Promise<number> {
  const realTimeout = globalThis.setTimeout;
  const realInterval = globalThis.setInterval;
  let created = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    created++;
    return realTimeout(...args);
  }) as typeof setTimeout;
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    created++;
    return realInterval(...args);
  }) as typeof setInterval;
  try {
    await during();
  } finally {
    globalThis.setTimeout = realTimeout;
    globalThis.setInterval = realInterval;
  }
  return created;
}
