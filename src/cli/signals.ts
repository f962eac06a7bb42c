// Ctrl-C handling (SPEC §7): the first SIGINT (or SIGTERM) stops the load
// and lets the summary and outputs finish; a second one exits at once with
// 130. Returns a function that removes the handlers.

export interface InterruptOptions {
  controller: AbortController;
  onFirst: () => void;
  onSecond: () => void;
}

export function handleInterrupts(options: InterruptOptions): () => void {
  let count = 0;
  const onSignal = (): void => {
    count++;
    if (count === 1) {
      options.onFirst();
      options.controller.abort();
    } else {
      options.onSecond();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
