/**
 * One-shot commands on the embedded target (`chpipe apply`, `status`, …
 * without `--url`) start their engine with the same config `chpipe serve`
 * writes: the Kafka consumers' session timeout, the broker pool, and static
 * membership for the topics that may have it (declared pipelines and the
 * Kafka tables already in the folder). No broker: the config is read at start.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectTarget } from '../../src/engine/connect.js';
import { engineInstanceId } from '../../src/engine/engine-config.js';
import { brokerPoolSize, LOCAL_SESSION_TIMEOUT_MS } from '../../src/sql/dev.js';
import { BIN, tempDir, tempProject } from '../helpers/cli.js';

describe('the engine of a one-shot command', () => {
  it('gets the engine config, with the folder\'s and the declared Kafka tables deciding static membership', async () => {
    const dataDir = join(tempDir('chpipe-one-shot-'), '.chpipe');
    const open = (declared: { topics: string[]; group: string; consumers: number; table: string }[]) =>
      connectTarget({ processEnv: {}, dataDir, dataDisplay: '.chpipe/', command: 'apply', waitMs: 0, declared });
    let target = await open([{ topics: ['declared'], group: 'g1', consumers: 1, table: 'db.p_queue' }]);
    try {
      const file = join(dataDir, 'engine-config.xml');
      expect(existsSync(file)).toBe(true);
      // The engine loaded the file: it reports the pool size it sets as changed (chdb reports its value as 0).
      const [pool] = await target.driver.query<{ changed: number }>("SELECT changed FROM system.server_settings WHERE name = 'background_message_broker_schedule_pool_size'");
      expect(Number(pool?.changed)).toBe(1);
      const xml = readFileSync(file, 'utf8');
      expect(xml).toContain(`<background_message_broker_schedule_pool_size>${brokerPoolSize(16)}</background_message_broker_schedule_pool_size>`);
      expect(xml).toContain(`<session_timeout_ms>${LOCAL_SESSION_TIMEOUT_MS}</session_timeout_ms>`);
      expect(xml).toContain(`<name>declared</name><group_instance_id>${engineInstanceId(dataDir)}</group_instance_id>`);
      // A Kafka table this command leaves in the folder (three consumers on `present`) counts at the next start.
      await target.driver.exec('CREATE DATABASE db');
      await target.driver.exec("CREATE TABLE db.other_queue (id UInt64) ENGINE = Kafka SETTINGS kafka_broker_list = '127.0.0.1:9', kafka_topic_list = 'present', kafka_group_name = 'g2', kafka_format = 'JSONEachRow', kafka_num_consumers = 3");
    } finally {
      await target.release();
    }
    target = await open([{ topics: ['present'], group: 'g3', consumers: 1, table: 'db.p_queue' }]);
    try {
      const xml = readFileSync(join(dataDir, 'engine-config.xml'), 'utf8');
      expect(xml).not.toContain('<name>present</name>');
      expect(xml).not.toContain('group_instance_id');
    } finally {
      await target.release();
    }
  });
});

describe('piped stdin', () => {
  // chdb reads its process's stdin as data for an INSERT with inline data (VALUES). The target's engine
  // process has /dev/null on stdin; the CLI process's own scratch engine never runs such an INSERT.
  it('does not reach any engine of validate, plan --save, apply or status (built dist/)', () => {
    const dir = tempProject({ 'schemas/p.yaml': 'name: p\nsource: { topic: t, format: JSONEachRow }\ncolumns: { id: UInt64 }\ntable: { order_by: [id] }\n' });
    for (const args of [['validate'], ['plan', '--save', 'first'], ['apply'], ['status']]) {
      const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, input: '1\nx\n', encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });
      expect({ args, code: r.status, stderr: r.stderr }).toMatchObject({ args, code: 0 });
    }
    const r = spawnSync(process.execPath, [BIN, 'status', '--json'], { cwd: dir, input: '1\n', encoding: 'utf8', timeout: 120_000 });
    expect((JSON.parse(r.stdout) as { migrations: { state: string }[] }).migrations.map((m) => m.state)).toEqual(['applied']);
  });
});
