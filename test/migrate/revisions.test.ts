/** The pure parts of apply: statements and their rerun points, the environment header, the history review, drift words. */
import { describe, expect, it } from 'vitest';
import { describeDrift, maskSecrets } from '../../src/diff/drift.js';
import { fileHash, migrationEnvironment, parseMigration, renderMigration, statementsHash, type MigrationFile } from '../../src/migrate/files.js';
import { prepareMigration } from '../../src/migrate/apply.js';
import { reviewRevisions, type Revision } from '../../src/migrate/revisions.js';
import { makeModel, type KafkaTable } from '../../src/model/model.js';
import type { Step } from '../../src/plan/plan.js';

const step = (i: number, extra: Partial<Step> = {}): Step => ({ object: `db.t${i}`, action: 'create', risk: 'safe', reason: `step ${i}`, op: { kind: 'createDatabase' }, sql: `CREATE TABLE IF NOT EXISTS db.t${i} (a Int8) ENGINE = Memory`, ...extra });

function file(version: string, text: string): MigrationFile {
  return { version, name: `m${version}`, file: `${version}_m${version}.sql`, text };
}

function revision(f: MigrationFile, extra: Partial<Revision> = {}): Revision {
  return { version: f.version, name: f.name, checksum: fileHash(f.text), status: 'applied', statements_done: 0, statements_total: 0, done_checksum: '', failed_statement: 0, error: '', started_at: '', finished_at: '', duration_ms: 0, host: 'h', os_user: 'u', db_user: 'default', chpipe_version: 'test', attempt: 1, seq: 1, ...extra };
}

describe('migration statements', () => {
  it('a step marked `rerun from step K` restarts at that step; others rerun alone', () => {
    const text = renderMigration({ version: '0002', name: 'x', chpipeVersion: 't', before: 'a', after: 'b', steps: [step(1), step(2), step(3, { rerunFrom: 1 }), step(4, { rerunFrom: 1 }), step(5)] });
    expect(text).toContain('-- step 3/5 · create · safe · db.t3 · rerun from step 1');
    const statements = parseMigration(text);
    expect(statements.map((s) => s.rerunFrom)).toEqual([0, 1, 0, 0, 4]);
    expect(statements[2]?.line).toBe(text.split('\n').indexOf('-- step 3/5 · create · safe · db.t3 · rerun from step 1') + 1);
  });

  it('a hand-written file: each statement reruns by itself', () => {
    expect(parseMigration('-- mine\nSELECT 1;\n\nSELECT 2;').map((s) => [s.index, s.rerunFrom, s.line])).toEqual([
      [0, 0, 1],
      [1, 1, 4],
    ]);
  });

  it('the environment header names the variables, secrets marked; apply fills them and masks the secrets', () => {
    const text = '-- chpipe migration 0001_x\n-- environment: KAFKA_BROKERS, KAFKA_PASSWORD (secret) (${...} references are filled in from the environment when the migration runs on a target)\n\n' + "CREATE TABLE t (a Int8) ENGINE = Kafka SETTINGS kafka_broker_list = '${KAFKA_BROKERS:-localhost:9092}', kafka_sasl_password = '${KAFKA_PASSWORD}', kafka_topic_list = '${NOT_LISTED}';";
    expect(migrationEnvironment(text)).toEqual({ variables: ['KAFKA_BROKERS', 'KAFKA_PASSWORD'], secrets: ['KAFKA_PASSWORD'] });
    const prepared = prepareMigration(file('0001', text), { KAFKA_PASSWORD: 's3cret' }, 'migrations');
    expect(prepared.statements[0]?.run).toContain("kafka_broker_list = 'localhost:9092', kafka_sasl_password = 's3cret', kafka_topic_list = '${NOT_LISTED}'");
    expect(prepared.statements[0]?.shown).toContain("kafka_sasl_password = '[HIDDEN]'");
    expect(() => prepareMigration(file('0001', text), {}, 'migrations')).toThrow('migrations/0001_m0001.sql needs the environment variable KAFKA_PASSWORD');
  });

  it('an interrupted migration resumes at the first statement not done, or at its group start', () => {
    const text = renderMigration({ version: '0002', name: 'x', chpipeVersion: 't', before: 'a', after: 'b', steps: [step(1), step(2), step(3, { rerunFrom: 2 }), step(4)] });
    const f = file('0002', text);
    const at = (done: number) => prepareMigration(f, {}, 'm', revision(f, { status: 'running', statements_done: done })).startAt;
    expect([0, 1, 2, 3, 4].map(at)).toEqual([0, 1, 1, 3, 4]);
    expect(prepareMigration(f, {}, 'm').startAt).toBe(0);
  });
});

describe('the target history against the files', () => {
  const a = file('0001', 'SELECT 1;');
  const b = file('0002', 'SELECT 2;\nSELECT 3;');
  it('applied, pending, and the problems that stop apply', () => {
    expect(reviewRevisions([a, b], [revision(a)]).problems).toEqual([]);
    expect(reviewRevisions([{ ...a, text: 'SELECT 11;' }, b], [revision(a)]).problems).toEqual([{ kind: 'edited', file: a.file, version: '0001' }]);
    expect(reviewRevisions([b], [revision(a), revision(b)]).problems).toEqual([{ kind: 'missing', version: '0001', name: 'm0001' }]);
    expect(reviewRevisions([a, b], [revision(b)]).problems).toEqual([{ kind: 'out-of-order', file: a.file, after: b.file }]);
  });
  it('a failed migration may change below the statements it finished, not above', () => {
    const done = statementsHash(parseMigration(b.text), 1);
    const failed = revision(b, { status: 'failed', statements_done: 1, done_checksum: done });
    expect(reviewRevisions([a, { ...b, text: 'SELECT 2;\nSELECT 4;' }], [revision(a), failed]).problems).toEqual([]);
    expect(reviewRevisions([a, { ...b, text: 'SELECT 5;\nSELECT 3;' }], [revision(a), failed]).problems).toEqual([{ kind: 'edited', file: b.file, version: '0002' }]);
  });
});

describe('drift', () => {
  const queue = (password: string, group = 'g'): KafkaTable => ({ kind: 'kafka', name: 'q', columns: [], topics: ['t'], group, format: 'JSONEachRow', settings: { kafka_sasl_password: password }, comment: '[chpipe:p/queue]', owner: { pipeline: 'p', role: 'queue' } });
  it('secret settings compare as [HIDDEN]; other differences are named in words', () => {
    const m = (q: KafkaTable) => maskSecrets(makeModel({ database: 'db' }, [q]));
    expect(m(queue('[HIDDEN]'))).toEqual(m(queue('s3cret')));
    expect(describeDrift('db', [{ kind: 'replaceQueue', from: queue('x'), to: queue('x', 'other'), flags: { fields: { added: [], removed: [], retyped: [], reordered: false }, format: false, group: true, topics: false, brokers: false, settings: [] } }])).toEqual([
      { object: 'db.q', detail: 'consumer group other on the target, g in the migrations' },
    ]);
  });
});
