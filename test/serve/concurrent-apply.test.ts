/**
 * `chpipe serve` under two clients at once (a real serve process, the built
 * dist/: `npm run build` first; clients through chpipe's HttpDriver, as
 * `chpipe apply --url` reaches it).
 *
 * The embedded engine reads its process's stdin as more data for any INSERT
 * with inline data (`VALUES …`), as clickhouse-local does. The engine process
 * used to take its requests on stdin, so while one client's INSERT ran, a
 * request of the other client waiting in that pipe was read by the engine:
 * the INSERT failed with NOT_IMPLEMENTED ("Processing async inserts with both
 * inlined and external data") and the swallowed request was never answered.
 * Two `chpipe apply --url` on two databases hit it (one failed on its history
 * INSERT, the other hung). Requests now reach the engine process on a
 * descriptor of their own and its stdin is /dev/null; the end-to-end form with
 * Kafka tables is test/kafka/serve-concurrent-apply.test.ts.
 *
 * Also here: what one client sets (async_insert, readonly, a database) never
 * reaches the other's requests.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpDriver } from '../../src/engine/http.js';
import { tempDir } from '../helpers/cli.js';
import { startServe, type Served } from './serving.js';

let served: Served;
const drivers: HttpDriver[] = [];
/** A client as `chpipe apply --url` has one; a request that is never answered fails after 30 s instead of hanging the test. */
async function client(): Promise<HttpDriver> {
  const d = await HttpDriver.connect(served.url, { requestTimeoutMs: 30_000 });
  drivers.push(d);
  return d;
}

beforeAll(async () => {
  served = await startServe(['--data-dir', join(tempDir('chpipe-serve-concurrent-'), 'data')]);
});
afterAll(async () => {
  for (const d of drivers) await d.close();
  await served?.stop();
});

const ROUNDS = 150;

describe.sequential('chpipe serve with two clients at once', () => {
  it('answers every request of two clients on two databases while INSERT … VALUES run, and loses no row', { timeout: 150_000 }, async () => {
    const [a, b] = [await client(), await client()];
    for (const [d, db] of [[a, 'conc_a'], [b, 'conc_b']] as const) {
      await d.exec(`CREATE DATABASE ${db}`);
      await d.exec(`CREATE TABLE ${db}.history (version UInt32, name String) ENGINE = MergeTree ORDER BY version`);
    }
    // Each client as an apply runs: a history INSERT with inline data, then a read of what it wrote, then DDL.
    const run = async (d: HttpDriver, db: string) => {
      for (let i = 1; i <= ROUNDS; i++) {
        await d.exec(`INSERT INTO ${db}.history (version, name) VALUES (${i}, 'step ${i}')`);
        const [row] = await d.query<{ n: string }>(`SELECT count() AS n FROM ${db}.history`);
        expect(Number(row?.n), `${db} after insert ${i}`).toBe(i);
        if (i % 25 === 0) await d.exec(`CREATE TABLE ${db}.t${i} (x UInt8) ENGINE = MergeTree ORDER BY x`);
      }
    };
    await Promise.all([run(a, 'conc_a'), run(b, 'conc_b')]);
    for (const db of ['conc_a', 'conc_b']) {
      const [row] = await a.query<{ n: string; versions: string; tables: string }>(
        `SELECT count() AS n, uniqExact(version) AS versions, (SELECT count() FROM system.tables WHERE database = '${db}') AS tables FROM ${db}.history`,
      );
      expect([Number(row?.n), Number(row?.versions), Number(row?.tables)], db).toEqual([ROUNDS, ROUNDS, 1 + ROUNDS / 25]);
    }
    // Nothing the engine read as INSERT data ended up elsewhere, and the server still answers.
    expect(served.stderr()).not.toMatch(/NOT_IMPLEMENTED|Error:/);
  });

  it("keeps each client's settings, readonly and database to its own requests", async () => {
    const [a, b] = [await client(), await client()];
    const settings = async (d: HttpDriver) => d.query<{ name: string; value: string }>("SELECT name, value FROM system.settings WHERE name IN ('async_insert', 'readonly', 'max_threads') ORDER BY name");
    const before = await settings(b);
    // Statements that change the context of the request they run in (a server gives each HTTP request its own).
    await a.exec('SET async_insert = 0');
    await a.exec('SET max_threads = 1');
    await a.exec('USE conc_a');
    await expect(a.exec('SET readonly = 1')).resolves.toBeUndefined();
    const [both] = await Promise.all([settings(b), a.exec('SET async_insert = 0, readonly = 1')]);
    expect(both).toEqual(before);
    expect(await settings(a)).toEqual(before);
    expect(await b.query<{ db: string }>('SELECT currentDatabase() AS db')).toEqual([{ db: 'default' }]);
    // And b can still write after a's readonly.
    await b.exec('CREATE TABLE conc_b.after_readonly (x UInt8) ENGINE = MergeTree ORDER BY x');
    await b.exec('INSERT INTO conc_b.after_readonly VALUES (1)');
    expect(await b.query('SELECT x FROM conc_b.after_readonly')).toEqual([{ x: 1 }]);
  });
});
