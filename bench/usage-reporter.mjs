// A `node --import` preload for the bench: at process exit it writes
// { cpuUserUs, cpuSystemUs, maxRssKb, requests? } as JSON to the file named by
// LOADS_BENCH_USAGE_FILE. process.cpuUsage() covers every thread of the
// process (workers included); resourceUsage().maxRSS is in KB. A generator
// that counts its own requests (bench/bare-undici.ts) sets
// globalThis.__loadsBenchRequests.
import { writeFileSync } from 'node:fs';

const file = process.env.LOADS_BENCH_USAGE_FILE;
if (file) {
  process.on('exit', () => {
    const cpu = process.cpuUsage();
    const requests = globalThis.__loadsBenchRequests;
    const usage = {
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      maxRssKb: process.resourceUsage().maxRSS,
      ...(typeof requests === 'number' ? { requests } : {}),
    };
    writeFileSync(file, JSON.stringify(usage));
  });
}
