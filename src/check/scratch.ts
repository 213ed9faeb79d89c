/**
 * A scratch ClickHouse: the embedded engine in a temporary directory, used to
 * check generated SQL, to replay migrations and to answer the compiler's
 * questions. It can never consume from Kafka: every Kafka table is created in
 * a side database where no view is ever attached (ClickHouse starts a consumer
 * only when a materialized view depends on the table), and the real name holds
 * a Null-engine stand-in with the same columns plus Kafka's virtual columns, so
 * views are created exactly as written.
 */
import type { Oracle } from '../compile/oracle.js';
import { EmbeddedDriver } from '../engine/embedded.js';
import { EngineError, type Driver } from '../engine/driver.js';
import { inspectDatabase, type Inspection } from '../inspect/inspect.js';
import { makeModel, type Placement, type Replication } from '../model/model.js';
import { backquote, ident, qualified, stringLiteral } from '../sql/quote.js';
import { statementTarget } from '../sql/parse.js';
import { replicatedEngine, withoutOnCluster } from '../sql/cluster.js';
import { EngineOracle, MemoOracle } from './oracle.js';
import { Memo } from './memo.js';
import { KAFKA_STREAM_VIRTUAL_COLUMNS, KAFKA_VIRTUAL_COLUMNS } from '../model/kafka.js';
import { parseOwnership } from '../model/ownership.js';
import { inertReferences } from '../spec/env.js';

export const KAFKA_SIDE_DATABASE = '_chpipe_scratch_kafka';

export interface ScratchOptions {
  /** Cluster mode: the cluster `ON CLUSTER` names (see Scratch's `cluster`). */
  readonly cluster?: string;
}

/**
 * The scratch engine's server config in cluster mode: the cluster as one node, itself (a Distributed table needs
 * its cluster to exist). Nothing listens at its address: with `tcp_port` naming the replica's port the engine
 * counts the replica as local and answers reads through the cluster (a rebuild's copy, `cluster(...)`) in process.
 */
export function scratchClusterConfig(cluster: string): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<clickhouse>\n  <tcp_port>9000</tcp_port>\n  <remote_servers>\n    <${esc(cluster)}><shard><internal_replication>true</internal_replication><replica><host>localhost</host><port>9000</port></replica></shard></${esc(cluster)}>\n  </remote_servers>\n</clickhouse>\n`;
}

/** The engine's own databases: a scratch engine leaves them alone. */
const SYSTEM_DATABASES = "'system', 'INFORMATION_SCHEMA', 'information_schema'";

/** Statement text per prepare() query; escaping may grow it, max_query_size is 256 KiB. */
const PREPARE_BATCH_BYTES = 96 * 1024;

export class Scratch {
  private readonly kafkaTables = new Set<string>();
  /** Statement text → the engine's formatQuery of it, filled in bulk by prepare(). */
  private readonly normalized = new Map<string, string>();
  private opened: EmbeddedDriver | undefined;
  private cachedOracle: Oracle | undefined;
  /** An engine given by the caller (see `over`), used instead of the embedded one; its owner closes it. */
  private external: Driver | undefined;
  /** Run statements that are not diverted as written rather than as the engine's formatQuery of them. */
  private runAsWritten = false;
  /**
   * Cluster mode (docs/cluster.md): statements `ON CLUSTER` this cluster run the way each node's DDL worker runs
   * them (the clause dropped). Replicated tables are created as their plain engine, because the embedded engine
   * keeps Replicated tables read-only (no ALTER, no INSERT); their replication is remembered by table UUID
   * (which follows a table through RENAME and EXCHANGE) and put back by inspect().
   */
  readonly cluster: string | undefined;
  private readonly replicated = new Map<string, Replication>();
  /** Cluster mode: the engine's default_replica_path and default_replica_name (read once). */
  private defaultReplication: Promise<Replication> | undefined;
  /** Cluster mode: the UUIDs of the objects created ON CLUSTER (on every node); any other was created on one server. */
  private readonly createdOnCluster = new Set<string>();
  private constructor(
    private readonly memo: Memo,
    options: ScratchOptions = {},
  ) {
    this.cluster = options.cluster;
  }

  /** A scratch engine; the engine itself is loaded only when first needed (a warm memo may answer everything). */
  static async open(memo: Memo = Memo.none(), options: ScratchOptions = {}): Promise<Scratch> {
    return new Scratch(memo, options);
  }

  /**
   * A scratch over an engine the caller owns (another version, another
   * process): the same diversion of Kafka tables, run/reset/inspect through
   * the Driver's async exec and query only. `asWritten` runs every statement
   * that is not diverted exactly as given (the check of a statement's text).
   */
  static over(driver: Driver, options: { asWritten?: boolean } = {}): Scratch {
    const scratch = new Scratch(Memo.none());
    scratch.external = driver;
    scratch.runAsWritten = options.asWritten ?? false;
    return scratch;
  }

  /** The engine statements run on: the caller's (`over`) or the embedded one. */
  private get engine(): Driver {
    return this.external ?? this.driver;
  }

  /** The engine, opened on first use. */
  get driver(): EmbeddedDriver {
    if (!this.opened) {
      const driver = EmbeddedDriver.scratchSync(this.cluster !== undefined ? scratchClusterConfig(this.cluster) : undefined);
      // A throwaway data directory needs no durable metadata: skipping the fsync of every
      // CREATE's metadata file makes DDL 2–3× faster. Never on an engine shared with a real target.
      if (driver.temporary) driver.querySync('SET fsync_metadata = 0');
      this.opened = driver;
    }
    return this.opened;
  }

  /** The compiler's Oracle: the memo first, the engine for what it has not seen. */
  oracle(): Oracle {
    this.cachedOracle ??= new MemoOracle(this.memo, () => new EngineOracle(this.driver));
    return this.cachedOracle;
  }

  get cache(): Memo {
    return this.memo;
  }

  /** Start from an empty database (and side database); a named collection is stubbed with no brokers. */
  async reset(placement: Placement, namedCollection?: string): Promise<void> {
    this.kafkaTables.clear();
    this.replicated.clear();
    this.createdOnCluster.clear();
    // Every database a previous replay left (a history may create more than the declared one): a scratch engine holds nothing else.
    const left = await this.engine.query<{ name: string }>(`SELECT name FROM system.databases WHERE name NOT IN (${SYSTEM_DATABASES}, 'default')`);
    for (const db of new Set([placement.database, KAFKA_SIDE_DATABASE, ...left.map((r) => r.name)])) await this.engine.exec(`DROP DATABASE IF EXISTS ${ident(db)} SYNC`);
    await this.engine.exec(`CREATE DATABASE ${ident(KAFKA_SIDE_DATABASE)} ENGINE = Memory`);
    if (namedCollection) {
      await this.engine.exec(
        `CREATE NAMED COLLECTION IF NOT EXISTS ${ident(namedCollection)} AS kafka_broker_list = '', kafka_format = 'JSONEachRow' OVERRIDABLE`,
      );
    }
  }

  /**
   * Normalize many statements in a few engine calls instead of one formatQuery
   * per run(). Best effort: a statement the engine cannot format (or a batch it
   * refuses) is left to run(), which reports the error as before.
   */
  async prepare(statements: readonly string[]): Promise<void> {
    const pending = [...new Set(statements)].filter((s) => !this.normalized.has(s));
    let batch: string[] = [];
    let size = 0;
    const flush = async () => {
      if (!batch.length) return;
      const chunk = batch;
      batch = [];
      size = 0;
      const rows = await this.engine
        .query<{ q: (string | null)[] }>(`SELECT arrayMap(s -> formatQueryOrNull(s), [${chunk.map(stringLiteral).join(', ')}]) AS q`)
        .catch((e: unknown) => {
          if (e instanceof EngineError) return [];
          throw e;
        });
      rows[0]?.q.forEach((q, i) => {
        if (q !== null) this.normalized.set(chunk[i] as string, q);
      });
    };
    for (const sql of pending) {
      // Stay well under max_query_size (256 KiB): the literals are the query text.
      if (size + sql.length > PREPARE_BATCH_BYTES) await flush();
      batch.push(sql);
      size += sql.length + 4;
    }
    await flush();
  }

  /**
   * Run one statement. Statements on Kafka tables are diverted to the side
   * database; the text is first normalized by the engine (formatQuery), which
   * also rejects syntax errors.
   */
  async run(sql: string): Promise<void> {
    const formatted = this.normalized.get(sql) ?? (await this.format(sql));
    const local = this.cluster !== undefined ? withoutOnCluster(formatted, this.cluster) : undefined;
    if (local !== undefined) return this.runLocal(sql, local);
    return this.runNormalized(sql, formatted);
  }

  /** Run a normalized statement: Kafka tables diverted to the side database. */
  private async runNormalized(sql: string, normalized: string): Promise<void> {
    const target = statementTarget(normalized);
    const key = target.name !== undefined ? `${target.database ?? ''}.${target.name}` : '';
    const isKafkaCreate = target.verb === 'CREATE' && target.objectKind === 'TABLE' && /\nENGINE = Kafka\b/.test(normalized);
    if (!isKafkaCreate && !this.kafkaTables.has(key)) {
      await this.exec(sql, this.runAsWritten ? sql : normalized);
      return;
    }
    // `${VAR}` references in Kafka settings run inert: ClickHouse would read `{VAR}` as a server macro.
    const side = inertReferences(normalized.slice(0, target.nameStart) + qualified(KAFKA_SIDE_DATABASE, target.name as string) + normalized.slice(target.nameEnd));
    if (isKafkaCreate) {
      await this.exec(sql, side);
      const db = target.database !== undefined ? `${ident(target.database)}.` : '';
      await this.exec(sql, `CREATE TABLE IF NOT EXISTS ${db}${ident(target.name as string)} (${(await this.standInColumns(normalized, target.name as string)).join(', ')}) ENGINE = Null`);
      this.kafkaTables.add(key);
      return;
    }
    // A statement on a Kafka table: the side table answers (ALTER on Kafka fails there as on a server).
    await this.exec(sql, side);
    if (target.verb === 'DROP' || target.verb === 'DETACH') {
      await this.exec(sql, normalized);
      this.kafkaTables.delete(key);
    }
  }

  /** Cluster mode: a statement as one node runs it; a Replicated table created as its plain engine (see `cluster`). */
  private async runLocal(sql: string, local: string): Promise<void> {
    const target = statementTarget(local);
    if (target.verb !== 'CREATE' || target.name === undefined || target.objectKind === 'DATABASE') return this.runNormalized(sql, local);
    const engineAt = target.objectKind === 'TABLE' ? local.indexOf('\nENGINE = ') : -1;
    const start = engineAt + '\nENGINE = '.length;
    const end = local.indexOf('\n', start) < 0 ? local.length : local.indexOf('\n', start);
    const { engine, replication } = engineAt < 0 ? { engine: '', replication: undefined } : replicatedEngine(local.slice(start, end));
    await this.runNormalized(sql, replication ? local.slice(0, start) + engine + local.slice(end) : local);
    const [row] = await this.engine.query<{ uuid: string }>(`SELECT toString(uuid) AS uuid FROM system.tables WHERE database = ${stringLiteral(target.database ?? 'default')} AND name = ${stringLiteral(target.name)}`);
    if (!row) return;
    this.createdOnCluster.add(row.uuid);
    if (replication) this.replicated.set(row.uuid, replication.path === undefined ? await this.serverDefaultReplication() : replication);
  }

  /**
   * A Replicated table created without arguments (`replication_path: default`) gets the server's default path and
   * replica name, which a server writes into the table's engine as it creates it (measured on 26.7): remembered
   * as such, so the migrated state compares equal to a target's tables that read back with them.
   */
  private serverDefaultReplication(): Promise<Replication> {
    this.defaultReplication ??= this.engine
      .query<{ name: string; value: string }>("SELECT name, value FROM system.server_settings WHERE name IN ('default_replica_path', 'default_replica_name')")
      .then((rows) => {
        const value = (name: string) => rows.find((r) => r.name === name)?.value;
        const path = value('default_replica_path');
        const replica = value('default_replica_name');
        return path !== undefined && replica !== undefined ? { path, replica } : {};
      });
    return this.defaultReplication;
  }

  /** Cluster mode: the chpipe-owned objects of `database` that were created on one server (not ON CLUSTER), by name. */
  async singleServerObjects(database: string): Promise<string[]> {
    const rows = await this.engine.query<{ name: string; uuid: string; comment: string }>(`SELECT name, toString(uuid) AS uuid, comment FROM system.tables WHERE database = ${stringLiteral(database)} ORDER BY name`);
    return rows.filter((r) => parseOwnership(r.comment).owner && !this.createdOnCluster.has(r.uuid)).map((r) => r.name);
  }

  /**
   * The stand-in's columns: the Kafka table's own (read from the normalized
   * CREATE, where Kafka allows plain columns only) and Kafka's virtual columns
   * (`_table` excepted: every table has it). Falls back to asking the engine
   * when the text is not in the expected shape.
   */
  private async standInColumns(normalized: string, name: string): Promise<string[]> {
    const list = /\n\(\n([\s\S]*?)\n\)\nENGINE = Kafka\b/.exec(normalized)?.[1];
    if (list !== undefined && !/\b(DEFAULT|MATERIALIZED|ALIAS|EPHEMERAL|CODEC|TTL)\b/.test(list)) {
      const virtuals = { ...KAFKA_VIRTUAL_COLUMNS, ...(/kafka_handle_error_mode = 'stream'/.test(normalized) ? KAFKA_STREAM_VIRTUAL_COLUMNS : {}) };
      const own = list.split(',\n').map((c) => c.trim());
      return [...own, ...Object.entries(virtuals).filter(([v]) => v !== '_table').map(([v, type]) => `${backquote(v)} ${type}`)];
    }
    const described = await this.engine.query<{ name: string; type: string }>(
      `DESCRIBE TABLE ${qualified(KAFKA_SIDE_DATABASE, name)} SETTINGS describe_include_virtual_columns = 1`,
    );
    return described.filter((c) => c.name !== '_table').map((c) => `${backquote(c.name)} ${c.type}`);
  }

  private async format(sql: string): Promise<string> {
    const rows = await this.engine.query<{ q: string }>(`SELECT formatQuery(${stringLiteral(sql)}) AS q`).catch((e: unknown) => {
      throw e instanceof EngineError ? new EngineError(sql, e.engineMessage, e.codeName, e.hint) : e;
    });
    return rows[0]?.q ?? sql;
  }

  private async exec(original: string, sql: string): Promise<void> {
    try {
      await this.engine.exec(sql);
    } catch (e) {
      if (e instanceof EngineError) throw new EngineError(original, e.engineMessage, e.codeName, e.hint);
      throw e;
    }
  }

  /** The databases (other than the side database) that hold chpipe-owned objects: one query. */
  async ownedDatabases(): Promise<string[]> {
    const rows = await this.engine.query<{ database: string; comment: string }>(
      `SELECT database, comment FROM system.tables WHERE database NOT IN (${SYSTEM_DATABASES}, ${stringLiteral(KAFKA_SIDE_DATABASE)})`,
    );
    return [...new Set(rows.filter((r) => parseOwnership(r.comment).owner).map((r) => r.database))].sort();
  }

  /** A read-only question to this scratch's engine (its own, or the caller's with `over`). */
  async query<T>(sql: string): Promise<T[]> {
    return this.engine.query<T>(sql);
  }

  async inspect(placement: Placement): Promise<Inspection> {
    const inspection = await inspectDatabase(this.engine, placement, { kafkaSideDatabase: KAFKA_SIDE_DATABASE });
    if (!this.replicated.size) return inspection;
    // Cluster mode: the tables created Replicated get their replication back (see `cluster`).
    const rows = await this.engine.query<{ name: string; uuid: string }>(`SELECT name, toString(uuid) AS uuid FROM system.tables WHERE database = ${stringLiteral(placement.database)}`);
    const byName = new Map(rows.map((r) => [r.name, this.replicated.get(r.uuid)]));
    const objects = inspection.model.objects.map((o) => {
      const replication = o.kind === 'table' ? byName.get(o.name) : undefined;
      return replication ? Object.freeze({ ...o, replication }) : o;
    });
    return { model: makeModel(inspection.model, objects), queries: inspection.queries + 1 };
  }

  async close(): Promise<void> {
    this.memo.save();
    await this.opened?.close();
  }
}
