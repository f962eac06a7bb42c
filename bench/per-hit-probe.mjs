// A `node --import` preload for `npm run bench -- per-hit` (issue 14): at
// process exit it writes one figure of the main thread, as JSON, to the file
// named by LOADS_BENCH_PROBE_FILE. LOADS_BENCH_PROBE picks which:
//
//   alloc     {"allocatedBytes":…,"gcs":…}: bytes allocated on the V8 heap
//             since the preload ran. Node 20 has no allocation counter
//             (no total_allocated_bytes), and --heap-prof samples only what
//             is still alive at the end, so this counts through the
//             collector: v8.GCProfiler records the heap's used size just
//             before and just after every GC (scavenges included), and
//             everything a GC found used that the previous one had not left
//             was allocated in between:
//               allocated = Σ (before(gc i) − after(gc i−1)) + (now − after(last gc)),
//             with after(gc 0) = the used size at start. Exact for the V8
//             heap (all spaces, large objects too); ArrayBuffer backing
//             stores outside the heap (socket reads, big Buffers) are not in it.
//   promises  {"promises":…}: promises created, counted with
//             v8.promiseHooks.onInit. With a hook installed V8 also creates
//             one throwaway promise per `await`, so this is promises plus
//             awaits: the microtask hops between the socket and the test
//             method. Hooks slow everything down: only in a run of its own.
import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';

const file = process.env.LOADS_BENCH_PROBE_FILE;
const probe = process.env.LOADS_BENCH_PROBE;
if (file && probe === 'alloc') {
  const profiler = new v8.GCProfiler();
  const startUsed = v8.getHeapStatistics().used_heap_size;
  profiler.start();
  process.on('exit', () => {
    const endUsed = v8.getHeapStatistics().used_heap_size;
    const { statistics } = profiler.stop();
    let allocatedBytes = 0;
    let lastAfter = startUsed;
    for (const gc of statistics) {
      allocatedBytes += gc.beforeGC.heapStatistics.usedHeapSize - lastAfter;
      lastAfter = gc.afterGC.heapStatistics.usedHeapSize;
    }
    allocatedBytes += endUsed - lastAfter;
    writeFileSync(file, JSON.stringify({ allocatedBytes, gcs: statistics.length }));
  });
} else if (file && probe === 'promises') {
  let promises = 0;
  v8.promiseHooks.onInit(() => {
    promises++;
  });
  process.on('exit', () => writeFileSync(file, JSON.stringify({ promises })));
}
