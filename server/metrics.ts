/**
 * Prometheus metrics in the text exposition format (version 0.0.4), written by hand: a few
 * counters and histograms, cheap enough to update on the hot GET path (one Map lookup and a
 * few additions per request).
 *
 * Operation labels are Notary's (UpdateTUF, GetRoleByHash, GetRoleByVersion, GetRole, GetKey,
 * RotateKey, DeleteTUF, Changefeed) plus ours for the other routes.
 */

/** Request duration buckets, in seconds. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

class Histogram {
  readonly counts = new Array<number>(BUCKETS.length).fill(0);
  count = 0;
  sum = 0;
  observe(v: number): void {
    this.count++;
    this.sum += v;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (v <= (BUCKETS[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        break;
      }
    }
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly durations = new Map<string, Histogram>();
  private readonly cache = { hits: 0, misses: 0 };
  private readonly publishes = new Map<string, number>();
  private readonly started = Date.now();
  /** gauges read at scrape time */
  private readonly gauges = new Map<string, { help: string; read: () => number }>();

  /** One finished request. `seconds` from the first byte seen to the end of the response. */
  observeRequest(operation: string, method: string, status: number, seconds: number): void {
    const key = `${operation}\u0000${method}\u0000${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let h = this.durations.get(operation);
    if (!h) {
      h = new Histogram();
      this.durations.set(operation, h);
    }
    h.observe(seconds);
  }

  cacheHit(): void {
    this.cache.hits++;
  }

  cacheMiss(): void {
    this.cache.misses++;
  }

  /** outcome: ok | the error code */
  observePublish(outcome: string): void {
    this.publishes.set(outcome, (this.publishes.get(outcome) ?? 0) + 1);
  }

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.set(name, { help, read });
  }

  /** The exposition text. */
  render(): string {
    const out: string[] = [];
    out.push('# HELP vouch_http_requests_total HTTP requests served, by operation, method and status code.');
    out.push('# TYPE vouch_http_requests_total counter');
    for (const [key, n] of this.requests) {
      const [op, method, status] = key.split('\u0000') as [string, string, string];
      out.push(`vouch_http_requests_total{operation="${escapeLabel(op)}",method="${escapeLabel(method)}",code="${status}"} ${n}`);
    }
    out.push('# HELP vouch_http_request_duration_seconds Time to serve a request, by operation.');
    out.push('# TYPE vouch_http_request_duration_seconds histogram');
    for (const [op, h] of this.durations) {
      const l = `operation="${escapeLabel(op)}"`;
      let cumulative = 0;
      BUCKETS.forEach((b, i) => {
        cumulative += h.counts[i] as number;
        out.push(`vouch_http_request_duration_seconds_bucket{${l},le="${fmt(b)}"} ${cumulative}`);
      });
      out.push(`vouch_http_request_duration_seconds_bucket{${l},le="+Inf"} ${h.count}`);
      out.push(`vouch_http_request_duration_seconds_sum{${l}} ${fmt(h.sum)}`);
      out.push(`vouch_http_request_duration_seconds_count{${l}} ${h.count}`);
    }
    out.push('# HELP vouch_metadata_cache_requests_total Metadata GETs answered from memory (hit) or storage (miss).');
    out.push('# TYPE vouch_metadata_cache_requests_total counter');
    out.push(`vouch_metadata_cache_requests_total{result="hit"} ${this.cache.hits}`);
    out.push(`vouch_metadata_cache_requests_total{result="miss"} ${this.cache.misses}`);
    out.push('# HELP vouch_publishes_total Publish requests by outcome (ok or the error code).');
    out.push('# TYPE vouch_publishes_total counter');
    for (const [outcome, n] of this.publishes) out.push(`vouch_publishes_total{outcome="${escapeLabel(outcome)}"} ${n}`);
    for (const [name, g] of this.gauges) {
      out.push(`# HELP ${name} ${g.help}`);
      out.push(`# TYPE ${name} gauge`);
      out.push(`${name} ${fmt(g.read())}`);
    }
    const mem = process.memoryUsage();
    out.push('# HELP process_resident_memory_bytes Resident memory size in bytes.');
    out.push('# TYPE process_resident_memory_bytes gauge');
    out.push(`process_resident_memory_bytes ${mem.rss}`);
    out.push('# HELP process_start_time_seconds Start time of the process since the Unix epoch in seconds.');
    out.push('# TYPE process_start_time_seconds gauge');
    out.push(`process_start_time_seconds ${Math.floor(this.started / 1000)}`);
    return out.join('\n') + '\n';
  }
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
