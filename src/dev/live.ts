/**
 * `chpipe dev`'s live view: per pipeline, rows (what users query), rows/s,
 * errors (`NAME_errors`), the latest error, and the consumer group's lag.
 * The counts come in one query for every pipeline; the lag from the brokers
 * (src/kafka/lag.ts, loaded on first use), read in the background at most
 * every few seconds so an unreachable broker never slows the refresh.
 */
import { EngineError, type Driver } from '../engine/driver.js';
import type { KafkaTable, Model } from '../model/model.js';
import { liveCountsQuery, type CountedPipeline, type CountRow } from '../sql/dev.js';

export interface PipelineLive {
  readonly name: string;
  /** count() of what users query (`NAME`); `null` when the pipeline has nothing to query (a publish pipeline) or it could not be read. */
  readonly rows: number | null;
  /** Rows per second since the previous refresh; `null` on the first. */
  readonly rowsPerSecond: number | null;
  /** count() of `NAME_errors`; 0 when there is none. */
  readonly errors: number;
  /** The latest `NAME_errors` row's error, if any. */
  readonly lastError: string | null;
  /** Messages the consumer group has not committed, over every partition; `null` when the brokers could not say. */
  readonly lag: number | null;
}

interface LagTarget {
  readonly pipeline: string;
  readonly brokers: string;
  readonly group: string;
  readonly topics: readonly string[];
}

/** Every pipeline the model holds objects of, in name order, with what the live view counts. */
export function countedPipelines(model: Model): { names: string[]; counted: CountedPipeline[]; queues: LagTarget[] } {
  const names = [...new Set(model.objects.flatMap((o) => (o.owner ? [o.owner.pipeline] : [])))].sort();
  const counted: CountedPipeline[] = [];
  const queues: LagTarget[] = [];
  for (const name of names) {
    const own = model.objects.filter((o) => o.owner?.pipeline === name);
    const queried = own.find((o) => o.owner?.role === 'table' || o.owner?.role === 'view');
    const errors = own.find((o) => o.owner?.role === 'errors');
    if (queried) counted.push({ pipeline: name, object: queried.name, ...(errors ? { errors: errors.name } : {}) });
    const queue = own.find((o): o is KafkaTable => o.kind === 'kafka' && o.owner?.role === 'queue');
    if (queue?.brokers) queues.push({ pipeline: name, brokers: queue.brokers, group: queue.group, topics: queue.topics });
  }
  return { names, counted, queues };
}

/** How often the brokers are asked for lag, at most. */
const LAG_EVERY_MS = 5000;

export class LiveView {
  private names: string[] = [];
  private counted: CountedPipeline[] = [];
  private queues: LagTarget[] = [];
  private database: string;
  private previous = new Map<string, { rows: number; at: number }>();
  private lag = new Map<string, number | null>();
  private lagReading: Promise<void> | undefined;
  private lagAt = 0;
  private stopped = false;

  constructor(
    private readonly driver: Driver,
    model: Model,
  ) {
    this.database = model.database;
    this.track(model);
  }

  /** Follow the objects the target holds now (after a change). */
  track(model: Model): void {
    this.database = model.database;
    const c = countedPipelines(model);
    this.names = c.names;
    this.counted = c.counted;
    this.queues = c.queues;
    for (const name of [...this.lag.keys()]) if (!this.names.includes(name)) this.lag.delete(name);
  }

  /** One refresh: the counts (one query), the rates since the last refresh, the lag last read. */
  async refresh(now = Date.now()): Promise<PipelineLive[]> {
    this.startLag(now);
    const sql = liveCountsQuery(this.database, this.counted);
    let rows: CountRow[] = [];
    if (sql) {
      try {
        rows = await this.driver.query<CountRow>(sql);
      } catch (e) {
        // A table dropped between a change and this refresh: counted again once the view follows the change.
        if (!(e instanceof EngineError)) throw e;
      }
    }
    const got = (name: string, what: CountRow['what']) => rows.find((r) => r.pipeline === name && r.what === what);
    return this.names.map((name) => {
      const r = got(name, 'rows');
      const e = got(name, 'errors');
      const count = r ? Number(r.n) : null;
      const before = this.previous.get(name);
      let rate: number | null = null;
      if (count !== null) {
        if (before && now > before.at) rate = Math.max(0, ((count - before.rows) * 1000) / (now - before.at));
        this.previous.set(name, { rows: count, at: now });
      }
      return { name, rows: count, rowsPerSecond: rate, errors: e ? Number(e.n) : 0, lastError: e?.last ? e.last : null, lag: this.lag.get(name) ?? null };
    });
  }

  /** Ask the brokers for lag in the background (never awaited by a refresh). */
  private startLag(now: number): void {
    if (this.stopped || this.lagReading || !this.queues.length || now - this.lagAt < LAG_EVERY_MS) return;
    this.lagAt = now;
    const queues = this.queues;
    this.lagReading = (async () => {
      try {
        const { readLag } = await import('../kafka/lag.js');
        const results = await readLag(queues.map((q) => ({ brokers: q.brokers, group: q.group, topics: q.topics })));
        results.forEach((r, i) => {
          const q = queues[i] as LagTarget;
          this.lag.set(q.pipeline, r.lag === null ? null : r.lag.reduce((sum, p) => sum + p.lag, 0));
        });
      } catch {
        // Lag is best effort: a broker that cannot be asked leaves it null.
        for (const q of queues) this.lag.set(q.pipeline, null);
      } finally {
        this.lagReading = undefined;
      }
    })();
  }

  /** Wait for a lag read in flight (at most the lag module's own deadline, about 3 s). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.lagReading;
  }
}
