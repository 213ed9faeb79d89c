/**
 * The central safety property (SPEC §4): validation and compilation never
 * contact a broker. A TCP listener stands in for the broker; the project's
 * kafka.brokers points at it; the real CLI runs; not one connection arrives.
 * A control proves the listener would see a consumer: the same engine with a
 * materialized view attached to a Kafka table connects within about a second.
 * That second matters: the CLI exits sooner than a consumer mistakenly started
 * would connect, so the scratch engine is also held open for 3 s after
 * validating (fixtures/validate-linger.mjs) — the check that fails if Kafka
 * tables stop being diverted to the side database.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, tempProject } from '../helpers/cli.js';

interface FakeBroker {
  readonly server: Server;
  readonly address: string;
  connections: number;
}

async function fakeBroker(): Promise<FakeBroker> {
  const broker = { connections: 0 } as FakeBroker & { server: Server; address: string };
  const server = createServer((socket) => {
    broker.connections++;
    socket.on('error', () => {});
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return Object.assign(broker, { server, address: `127.0.0.1:${port}` });
}

/** The CLI, asynchronously, so the listener keeps accepting while it runs. */
function run(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNode([BIN, ...args], cwd);
}

function runNode(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const PIPELINES = {
  'schemas/orders.yaml': `name: orders
source: { topic: orders, format: JSONEachRow }
columns:
  order_id: UInt64
  amount: Decimal(12, 2)
  created_at: DateTime
  received_at: { type: DateTime, from: _timestamp }
  day: { type: Date, expr: toDate(created_at) }
table:
  order_by: [order_id]
  partition_by: toYYYYMM(day)
`,
  'schemas/orders_1m.yaml': `name: orders_1m
source: { topic: orders, format: JSONEachRow }
columns:
  amount: Float64
  created_at: DateTime
aggregate:
  by: { minute: toStartOfMinute(created_at) }
  measures:
    orders: count()
    p95: quantile(0.95)(amount)
`,
  'schemas/logs.yaml': `name: logs
source: { topic: logs, format: JSONEachRow, on_error: stream }
columns:
  ts: DateTime
  message: String
table:
  order_by: [ts]
`,
  'schemas/big_orders.yaml': `name: big_orders
publish:
  from: orders
  where: amount > 1000
  columns: [order_id, amount]
  topic: big-orders
  format: JSONEachRow
`,
};

describe('no broker is ever contacted', () => {
  let broker: FakeBroker;
  beforeAll(async () => {
    broker = await fakeBroker();
  });
  afterAll(async () => {
    await new Promise((r) => broker.server.close(r));
  });

  it('by validate and compile, with ingest, aggregate, on_error: stream and publish pipelines', async () => {
    const dir = tempProject(PIPELINES, `version: 1\ndatabase: analytics\nkafka:\n  brokers: ${broker.address}\n`);
    try {
      const validated = await run(['validate', '--json'], dir);
      expect(validated.stderr).toBe('');
      expect(JSON.parse(validated.stdout)).toMatchObject({ ok: true, pipelines: 4 });
      expect(validated.code).toBe(0);
      const compiled = await run(['compile'], dir);
      expect(compiled.code).toBe(0);
      // The statements do name the listener: it is the broker a server would use.
      expect(compiled.stdout).toContain(`kafka_broker_list = '${broker.address}'`);
      expect(compiled.stdout).toContain("kafka_handle_error_mode = 'stream'");
      await sleep(3000);
      expect(broker.connections).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('by the scratch engine, even while it stays open long after validating', async () => {
    const dir = tempProject(PIPELINES, `version: 1\ndatabase: analytics\nkafka:\n  brokers: ${broker.address}\n`);
    try {
      const r = await runNode([join(ROOT, 'test/check/fixtures/validate-linger.mjs'), dir, '3000'], ROOT);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({ statements: 17, diagnostics: 0 });
      expect(broker.connections).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('control: a Kafka table with a materialized view attached does connect (what the scratch design avoids)', async () => {
    const before = broker.connections;
    const dataDir = mkdtempSync(join(tmpdir(), 'chpipe-control-'));
    const child = spawn(process.execPath, [join(ROOT, 'test/check/fixtures/consume.mjs'), broker.address, dataDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    try {
      for (let waited = 0; waited < 30_000 && broker.connections === before && child.exitCode === null; waited += 100) await sleep(100);
      expect(output).toContain('view attached');
      expect(broker.connections - before).toBeGreaterThanOrEqual(1);
    } finally {
      child.kill('SIGKILL');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
