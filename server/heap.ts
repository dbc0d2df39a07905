/**
 * Heap tuning, imported first by the server's entry point. The working set is small (cached
 * metadata bytes), but publishes into large repositories parse megabyte targets files, and V8's
 * default growth heuristics then let the heap's high-water mark pass 150 MB. `--optimize-for-size`
 * keeps the peak near 100 MB with no measurable cost on the cached GET path
 * (docs/benchmarks.md). Set at run time so that every way of starting the server gets it.
 */
import * as v8 from 'node:v8';

v8.setFlagsFromString('--optimize-for-size');
