/**
 * A synthetic chpipe project of many pipelines, for benchmarks: a realistic
 * mix of ingest (~60%), aggregate (~30%) and publish (~10%) pipelines,
 * deterministic for a given seed. Used by bench/run.mjs; meant to be reused by
 * other benchmarks (plan, apply).
 *
 *   import { generateProject, writeProject } from './generate.mjs';
 *   const dir = writeProject(generateProject({ pipelines: 1000 }));
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A small, seedable PRNG (mulberry32), so every run builds the same project. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FORMATS = ['JSONEachRow', 'JSONEachRow', 'JSONEachRow', 'CSV', 'TSV', 'CSVWithNames'];
const DOMAINS = ['api', 'orders', 'clicks', 'payments', 'sensors', 'logs', 'sessions', 'ads', 'search', 'inventory'];

/** Plain (queue) columns to draw from: name → type, with what an expression over it may be. */
const PLAIN = [
  ['user_id', 'String', 'string'],
  ['account_id', 'UInt64', 'number'],
  ['amount', 'Decimal(12, 4)', 'number'],
  ['latency_ms', 'Int32', 'number'],
  ['status', 'LowCardinality(String)', 'string'],
  ['country', 'LowCardinality(String)', 'string'],
  ['url', 'String', 'string'],
  ['score', 'Float64', 'number'],
  ['items', 'UInt16', 'number'],
  ['is_bot', 'Bool', 'bool'],
  ['region', 'Nullable(String)', 'string'],
  ['tags', 'Array(String)', 'array'],
];
const VIRTUAL = [
  ['received_at', 'DateTime', '_timestamp'],
  ['kafka_offset', 'UInt64', '_offset'],
  ['kafka_partition', 'UInt64', '_partition'],
  ['kafka_key', 'String', '_key'],
];

function pick(rnd, list) {
  return list[Math.floor(rnd() * list.length)];
}

function sample(rnd, list, n) {
  const copy = [...list];
  const out = [];
  while (out.length < n && copy.length) out.push(copy.splice(Math.floor(rnd() * copy.length), 1)[0]);
  return out;
}

function between(rnd, lo, hi) {
  return lo + Math.floor(rnd() * (hi - lo + 1));
}

function header(name, description, topic, format, rnd) {
  const lines = [`name: ${name}`, `description: ${description}`, 'source:', `  topic: ${topic}`, `  format: ${format}`];
  const r = rnd();
  if (r < 0.15) lines.push('  on_error: skip');
  else if (r < 0.2) lines.push('  on_error: stream');
  if (rnd() < 0.1) lines.push('  consumers: 2');
  return lines;
}

/** An ingest pipeline: 5–10 columns, one `from:` a virtual column and one `expr:` column. */
function ingest(rnd, name, topic) {
  const plain = sample(rnd, PLAIN, between(rnd, 2, 7));
  const virtual = pick(rnd, VIRTUAL);
  const lines = [...header(name, `Raw ${topic} events`, topic, pick(rnd, FORMATS), rnd), 'columns:', '  event_time: DateTime'];
  for (const [n, t] of plain) lines.push(`  ${n}: ${t}`);
  lines.push(`  ${virtual[0]}: { type: ${virtual[1]}, from: ${virtual[2]} }`);
  lines.push('  day: { type: Date, expr: toDate(event_time) }');
  const numeric = plain.find((c) => c[2] === 'number');
  if (numeric && rnd() < 0.3) lines.push(`filter: ${numeric[0]} >= 0`);
  const key = plain.find((c) => c[2] === 'string' && !c[1].startsWith('Nullable'));
  lines.push('table:', `  order_by: [${key ? `${key[0]}, ` : ''}event_time]`, '  partition_by: toYYYYMM(day)');
  if (rnd() < 0.4) lines.push('  ttl: day + INTERVAL 90 DAY');
  if (rnd() < 0.15) lines.push('  engine: ReplacingMergeTree');
  return {
    text: lines.join('\n') + '\n',
    outputs: ['event_time', ...plain.map((c) => c[0]), virtual[0], 'day'],
    numeric: numeric?.[0],
  };
}

/** An aggregate pipeline: 3–5 measures, one of them parametric (quantile(0.95)(x), topK(10)(x), ...). */
function aggregate(rnd, name, topic) {
  const lines = [...header(name, `${topic} per minute`, topic, 'JSONEachRow', rnd), 'columns:'];
  lines.push('  ts: DateTime', '  key: LowCardinality(String)', '  value: Float64', '  user_id: String', '  amount: Decimal(12, 4)');
  if (rnd() < 0.3) lines.push('  received_at: { type: DateTime, from: _timestamp }');
  if (rnd() < 0.2) lines.push('filter: isFinite(value)');
  const bucket = rnd() < 0.5 ? ['minute', 'toStartOfMinute(ts)'] : ['hour', 'toStartOfHour(ts)'];
  lines.push('aggregate:', '  by:', '    key: key', `    ${bucket[0]}: ${bucket[1]}`, '  measures:');
  const parametric = pick(rnd, ['quantile(0.95)(value)', 'quantiles(0.5, 0.9, 0.99)(value)', 'topK(10)(key)', 'quantileTDigest(0.99)(value)']);
  const others = sample(rnd, ['count()', 'sum(amount)', 'avg(value)', 'max(value)', 'min(value)', 'uniq(user_id)', "countIf(value > 100)", 'argMax(user_id, ts)'], between(rnd, 2, 4));
  lines.push(`    p: ${parametric}`);
  others.forEach((m, i) => lines.push(`    m${i}: ${m}`));
  if (rnd() < 0.5) lines.push('table:', `  partition_by: toYYYYMM(${bucket[0]})`, `  ttl: ${bucket[0]} + INTERVAL 400 DAY`);
  return { text: lines.join('\n') + '\n' };
}

/** A publish pipeline reading an ingest pipeline. */
function publish(rnd, name, source) {
  const columns = sample(rnd, source.outputs, between(rnd, 2, Math.min(5, source.outputs.length)));
  const lines = ['name: ' + name, `description: ${source.name} republished`, 'publish:', `  from: ${source.name}`];
  if (source.numeric && rnd() < 0.6) lines.push(`  where: ${source.numeric} > 10`);
  if (rnd() < 0.8) lines.push(`  columns: [${columns.join(', ')}]`);
  lines.push(`  topic: ${name.replace(/_/g, '-')}`, '  format: JSONEachRow');
  return { text: lines.join('\n') + '\n' };
}

/**
 * Build a project: `{ files: { 'chpipe.yaml': ..., 'schemas/<domain>/<name>.yaml': ... }, counts }`.
 * Options: pipelines (default 1000), seed (default 1), brokers (default localhost:9092).
 */
export function generateProject({ pipelines = 1000, seed = 1, brokers = 'localhost:9092' } = {}) {
  const rnd = random(seed);
  const files = {
    'chpipe.yaml': `version: 1\ndatabase: bench\nkafka:\n  brokers: ${brokers}\nschemas: schemas/\nmigrations: migrations/\n`,
  };
  const counts = { ingest: 0, aggregate: 0, publish: 0 };
  const ingests = [];
  const nPublish = Math.round(pipelines * 0.1);
  const nAggregate = Math.round(pipelines * 0.3);
  const nIngest = pipelines - nPublish - nAggregate;
  const kinds = [...Array(nIngest).fill('ingest'), ...Array(nAggregate).fill('aggregate')];
  // interleave deterministically
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  kinds.forEach((kind, i) => {
    const domain = DOMAINS[i % DOMAINS.length];
    const name = `${domain}_${kind === 'ingest' ? 'events' : 'rollup'}_${String(i).padStart(4, '0')}`;
    const topic = `${domain}-events-${i % 50}`;
    const built = kind === 'ingest' ? ingest(rnd, name, topic) : aggregate(rnd, name, topic);
    files[`schemas/${domain}/${name}.yaml`] = built.text;
    counts[kind]++;
    if (kind === 'ingest') ingests.push({ name, domain, ...built });
  });
  for (let i = 0; i < nPublish; i++) {
    const source = ingests[Math.floor(rnd() * ingests.length)];
    const name = `${source.domain}_out_${String(i).padStart(4, '0')}`;
    files[`schemas/${source.domain}/out/${name}.yaml`] = publish(rnd, name, source).text;
    counts.publish++;
  }
  return { files, counts };
}

/** Write a generated project into `dir` (default: a new temporary folder); returns the folder. */
export function writeProject(project, dir = mkdtempSync(join(tmpdir(), 'chpipe-bench-'))) {
  for (const [path, text] of Object.entries(project.files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}
