/**
 * The front end: YAML text → typed Spec + diagnostics. Pure: file contents and
 * the environment are passed in; nothing here reads disk or talks to ClickHouse.
 */
import { isCollection, isMap, isPair, isScalar, visit, type Node, type YAMLError } from 'yaml';
import { KAFKA_SETTINGS_FROM_KEYS, KAFKA_STREAM_VIRTUAL_COLUMNS, KAFKA_VIRTUAL_COLUMNS, SCHEMA_FILE_FORMATS, SKIP_BROKEN_MESSAGES_DEFAULT } from '../model/kafka.js';
import { objectName, pipelineObjectName, ROLES, type Role } from '../model/model.js';
import { compareDiagnostics, diagnostic, didYouMean, type Diagnostic, type Location } from './diagnostic.js';
import { writtenBrokersProblem } from './brokers.js';
import { envReferences, expandEnv } from './env.js';
import { ident, stringLiteral } from '../sql/quote.js';
import { schemaDiagnostics } from './schema.js';
import { locate, locationAt, parseSource, type PathKey, type SourceFile } from './source.js';
import { DEFAULT_REPLICA_NAME, DEFAULT_REPLICATION_PATH } from '../model/cluster.js';
import type { AggregateSpec, ClusterLayout, ColumnSpec, FieldSpec, IngestSpec, RollupSpec, KafkaConnection, MeasureSpec, OnError, PipelineSpec, ProjectSpec, PublishSpec, SourceSpec, TableSpec } from './types.js';

export interface InputFile {
  readonly path: string;
  readonly text: string;
}

export interface ParseResult {
  /**
   * Present when chpipe.yaml itself is valid; it holds only the pipelines whose
   * files have no diagnostics, so the engine can check those too and every
   * problem of a run is reported at once. Never plan or apply a project that
   * came with diagnostics: its failing pipelines are missing from it.
   */
  readonly project?: ProjectSpec;
  readonly diagnostics: readonly Diagnostic[];
}

/** Largest YAML file accepted; a pipeline file is a few hundred bytes. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;

/** Pipeline names: letters (any script), digits, `_`, `-`; a letter or `_` first. */
const PIPELINE_NAME = /^[\p{L}_][\p{L}\p{N}_-]*$/u;
export const MAX_NAME_BYTES = 64;

type Raw = Record<string, unknown>;

/** Parse one YAML file: syntax errors and the empty/huge cases become diagnostics. */
function readYaml(file: InputFile, kind: 'project' | 'pipeline', diagnostics: Diagnostic[]): { src: SourceFile; data: unknown } | undefined {
  const bytes = Buffer.byteLength(file.text, 'utf8');
  if (bytes > MAX_FILE_BYTES) {
    diagnostics.push(
      diagnostic({ file: file.path, line: 1, col: 1 }, 'file-too-large', `file is ${(bytes / 1048576).toFixed(1)} MiB; the limit is ${MAX_FILE_BYTES / 1048576} MiB`, {
        expected: 'one pipeline per file, a few KiB at most',
        hint: 'split it into one file per pipeline',
      }),
    );
    return undefined;
  }
  const src = parseSource(file.path, file.text);
  if (src.doc.errors.length) {
    const lines = new Set<number>();
    for (const e of src.doc.errors) {
      if (e.code === 'BLOCK_AS_IMPLICIT_KEY' && src.doc.errors.some((m) => m.code === 'MULTILINE_IMPLICIT_KEY' && m.pos[0] === e.pos[0])) continue;
      const d = syntaxDiagnostic(src, e);
      // The parser often reports one mistake twice on the same line; say it once.
      if (!lines.has(d.line)) diagnostics.push(d);
      lines.add(d.line);
    }
    return undefined;
  }
  let data: unknown;
  try {
    data = src.doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    diagnostics.push(diagnostic({ file: file.path, line: 1, col: 1 }, 'yaml-syntax', `YAML error: ${firstLine((e as Error).message)}`));
    return undefined;
  }
  const expected = kind === 'project' ? 'a map with at least `version: 1` and `database: NAME`' : 'a map with at least "name" and "source" (or "publish")';
  if (data === null || data === undefined) {
    diagnostics.push(diagnostic({ file: file.path, line: 1, col: 1 }, 'empty-file', 'file is empty', { expected }));
    return undefined;
  }
  if (!isMap(src.doc.contents)) {
    const got = Array.isArray(data) ? 'a list' : `a single ${typeof data === 'string' ? 'string' : 'value'}`;
    diagnostics.push(diagnostic(locate(src, []), 'wrong-type', `the file must be a map of keys, not ${got}`, { expected }));
    return undefined;
  }
  return { src, data };
}

/**
 * A YAML parse error, said in words and placed where the mistake is: an
 * unclosed quote at its opening quote (the parser notices only at the end of
 * the file), a wrongly indented line at that line, a duplicate key by name.
 */
function syntaxDiagnostic(src: SourceFile, e: YAMLError): Diagnostic {
  const generic = { expected: 'valid YAML (check indentation, colons and quotes)' };
  const offset = e.pos[0];
  const lineStart = (at: number) => src.text.lastIndexOf('\n', at - 1) + 1;
  const firstNonBlank = (start: number) => start + (/^[ \t]*/.exec(src.text.slice(start))?.[0].length ?? 0);
  switch (e.code) {
    case 'DUPLICATE_KEY': {
      let first: Node | undefined;
      let key = '';
      visit(src.doc, {
        Map(_, map) {
          const keys = map.items.map((p) => (isPair(p) && isScalar(p.key) ? p.key : undefined));
          const dup = keys.findIndex((k) => k?.range?.[0] === offset);
          if (dup < 0) return undefined;
          key = String(keys[dup]?.value);
          first = keys.find((k) => k !== undefined && String(k.value) === key);
          return visit.BREAK;
        },
      });
      const firstLine = first?.range ? ` (first at line ${locationAt(src, first.range[0]).line})` : '';
      return diagnostic(locationAt(src, offset), 'yaml-syntax', `YAML syntax error: duplicate key "${key}"${firstLine}`, { expected: 'each key at most once in a map', hint: 'remove one of the two, or merge them' });
    }
    case 'MISSING_CHAR':
    case 'BAD_INDENT': {
      const unclosed = /closing|end with a/.test(e.message) ? unclosedAt(src, offset) : undefined;
      if (unclosed) {
        const [what, close] = isScalar(unclosed) ? [unclosed.type === 'QUOTE_SINGLE' ? 'single-quoted string' : 'double-quoted string', unclosed.type === 'QUOTE_SINGLE' ? "'" : '"'] : isMap(unclosed) ? ['flow map', '}'] : ['flow list', ']'];
        return diagnostic(locationAt(src, unclosed.range?.[0] ?? offset), 'yaml-syntax', `YAML syntax error: this ${what} is never closed`, { expected: `a closing ${close}`, hint: `add the closing ${close}` });
      }
      if (e.code === 'BAD_INDENT' && /same column/.test(e.message)) {
        return diagnostic(locationAt(src, firstNonBlank(lineStart(offset))), 'yaml-syntax', 'YAML syntax error: bad indentation: the keys of a map must all start at the same column', generic);
      }
      if (/followed by map values/.test(e.message)) {
        return diagnostic(locationAt(src, offset), 'yaml-syntax', `YAML syntax error: ${firstLine(e.message)}`, { ...generic, hint: 'write `key: value`, with a space after the colon' });
      }
      break;
    }
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY': {
      // `topic: t` followed by a deeper `  format: CSV`: the parser reads one multi-line key; the mistake is the deeper line.
      const next = src.text.indexOf('\n', offset) + 1;
      if (next > 0 && next < e.pos[1]) {
        const above = locationAt(src, firstNonBlank(lineStart(offset)));
        return diagnostic(locationAt(src, firstNonBlank(next)), 'yaml-syntax', 'YAML syntax error: bad indentation: this line is indented deeper than the key above it, which already has a value', {
          expected: 'the keys of a map at the same column',
          hint: `start it at column ${above.col}, like the line above`,
        });
      }
      break;
    }
    case 'MULTIPLE_DOCS':
      return diagnostic(locationAt(src, offset), 'yaml-syntax', 'YAML syntax error: a second document (after ---) in the same file', { expected: 'one pipeline per file', hint: 'move it to a file of its own' });
    case 'TAB_AS_INDENT':
      return diagnostic(locationAt(src, offset), 'yaml-syntax', `YAML syntax error: ${firstLine(e.message)}`, { ...generic, hint: 'indent with spaces' });
  }
  return diagnostic(locationAt(src, offset), 'yaml-syntax', `YAML syntax error: ${firstLine(e.message)}`, generic);
}

/** The innermost quoted string or flow collection that runs up to `offset` without being closed. */
function unclosedAt(src: SourceFile, offset: number): Node | undefined {
  let found: Node | undefined;
  visit(src.doc, (_, node) => {
    const open = (isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE')) || (isCollection(node) && node.flow === true);
    const range = (node as Node).range;
    if (open && range && range[0] < offset && range[1] >= offset && (!found?.range || found.range[0] < range[0])) found = node as Node;
    return undefined;
  });
  return found;
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

function settingsOf(raw: unknown): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries((raw as Raw | undefined) ?? {})) {
    out[k] = typeof v === 'boolean' ? (v ? 1 : 0) : (v as string | number);
  }
  return out;
}

function brokersOf(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  return Array.isArray(raw) ? raw.map(String).join(',') : String(raw);
}

/** A broker list that is not `HOST:PORT,…` (defaults of `${VAR:-…}` filled in), reported at its key; true when it is fine. */
function checkBrokers(brokers: string | undefined, at: Location, diagnostics: Diagnostic[]): boolean {
  const problem = brokers === undefined ? undefined : writtenBrokersProblem(brokers);
  if (problem === undefined) return true;
  diagnostics.push(diagnostic(at, 'invalid-brokers', problem, { hint: 'write the brokers as HOST:PORT, separated by commas, e.g. localhost:9092 or ${KAFKA_BROKERS:-localhost:9092}' }));
  return false;
}

export function parseProject(projectFile: InputFile, pipelineFiles: readonly InputFile[], env: Readonly<Record<string, string | undefined>>): ParseResult {
  const diagnostics: Diagnostic[] = [];
  const project = readYaml(projectFile, 'project', diagnostics);
  const files = pipelineFiles.map((f) => readYaml(f, 'pipeline', diagnostics));
  if (!project) return { diagnostics: diagnostics.sort(compareDiagnostics) };

  const schemaErrors = schemaDiagnostics('project', project.src, project.data);
  diagnostics.push(...schemaErrors);
  const raw = project.data as Raw;
  const src = project.src;
  if (schemaErrors.length) return { diagnostics: diagnostics.sort(compareDiagnostics) };

  const database = String(raw.database);
  checkObjectName(database, 'database', locate(src, ['database']), diagnostics, 128);
  // Cluster mode: the `cluster` key only (compile/cluster.ts checks its layout).
  const cluster = clusterOf(raw.cluster);
  const kafkaRaw = (raw.kafka as Raw | undefined) ?? {};
  // `${VAR}` references stay as written: they are filled in when statements run on a target (see `environmentProblems`).
  const brokers = kafkaRaw.brokers !== undefined ? brokersOf(kafkaRaw.brokers) : undefined;
  checkBrokers(brokers, locate(src, ['kafka', 'brokers']), diagnostics);
  const namedCollection = kafkaRaw.named_collection !== undefined ? expandEnv(String(kafkaRaw.named_collection), env).value : undefined;
  if (brokers !== undefined && namedCollection !== undefined) {
    diagnostics.push(diagnostic(locate(src, ['kafka', 'named_collection'], 'key'), 'conflict', 'kafka.brokers and kafka.named_collection are exclusive', { hint: 'keep the brokers in the named collection, or drop it' }));
  }
  const kafka: KafkaConnection = { brokers, namedCollection, ...(kafkaRaw.schema_registry !== undefined ? { schemaRegistry: String(kafkaRaw.schema_registry) } : {}), settings: settingsOf(kafkaRaw.settings) };
  for (const key of Object.keys(kafka.settings)) checkReservedSetting(src, ['kafka', 'settings', key], key, diagnostics);

  const environments: Record<string, { url: string }> = {};
  for (const [name, e] of Object.entries((raw.environments as Record<string, Raw> | undefined) ?? {})) environments[name] = { url: String(e.url) };

  const projectOk = !diagnostics.some((d) => d.file === src.path);
  const pipelines: PipelineSpec[] = [];
  const declared = new Set<string>();
  for (const f of files) {
    if (f && typeof (f.data as Raw).name === 'string') declared.add((f.data as Raw).name as string);
  }
  for (const f of files) {
    if (!f) continue;
    const errors = schemaDiagnostics('pipeline', f.src, f.data);
    diagnostics.push(...errors);
    if (errors.length) continue;
    const p = toPipeline(f.src, f.data as Raw, database, kafka, diagnostics);
    if (p) pipelines.push(p);
  }
  checkUniqueness(pipelines, diagnostics);
  checkPublishSources(pipelines, declared, diagnostics);
  if (!projectOk) return { diagnostics: diagnostics.sort(compareDiagnostics) };
  const clean = pipelines.filter((p) => !diagnostics.some((d) => d.file === p.file.path));

  const spec: ProjectSpec = {
    source: src,
    database,
    ...(cluster ? { cluster: cluster.name, clusterLayout: cluster.layout } : {}),
    kafka,
    schemasDir: String(raw.schemas ?? 'schemas/'),
    migrationsDir: String(raw.migrations ?? 'migrations/'),
    environments,
    pipelines: clean.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
  return { project: spec, diagnostics: diagnostics.sort(compareDiagnostics) };
}

/** `cluster: NAME` or `cluster: { name, replication_path, replica_name, sharding_key }` (schema-checked), with defaults. */
function clusterOf(raw: unknown): { name: string; layout: ClusterLayout } | undefined {
  if (raw === undefined || raw === null) return undefined;
  const c: Raw = typeof raw === 'object' ? (raw as Raw) : { name: raw };
  const path = c.replication_path === undefined ? DEFAULT_REPLICATION_PATH : String(c.replication_path);
  const replica = c.replica_name === undefined ? DEFAULT_REPLICA_NAME : String(c.replica_name);
  return { name: String(c.name), layout: { replication: path === 'default' ? 'default' : { path, replica }, shardingKey: c.sharding_key === undefined ? 'rand()' : String(c.sharding_key) } };
}

function checkObjectName(name: string, what: string, at: Location, diagnostics: Diagnostic[], maxBytes = MAX_NAME_BYTES): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/u.test(name) || name.trim() !== name || name.length === 0) {
    diagnostics.push(diagnostic(at, 'invalid-name', `${what} name ${JSON.stringify(name)} contains control characters or surrounding spaces`, { expected: 'letters, digits, "_" or "-"' }));
    return false;
  }
  // No-break and other unusual spaces, zero-width characters: invisible in the YAML, fatal in SQL.
  const hidden = /(?! )[\p{Z}\p{Cf}]/u.exec(name)?.[0];
  if (hidden !== undefined) {
    const code = `U+${(hidden.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`;
    const fixed = name.replace(/\p{Cf}/gu, '').replace(/(?! )\p{Z}/gu, '_');
    diagnostics.push(diagnostic(at, 'invalid-name', `${what} name ${JSON.stringify(name)} contains an invisible character, ${code}`, { expected: 'letters, digits, "_" or "-"', hint: `try "${fixed}"` }));
    return false;
  }
  if (Buffer.byteLength(name, 'utf8') > maxBytes) {
    diagnostics.push(diagnostic(at, 'invalid-name', `${what} name is ${Buffer.byteLength(name, 'utf8')} bytes long; object names built from it would exceed ClickHouse's limits`, { expected: `at most ${maxBytes} bytes` }));
    return false;
  }
  return true;
}

function checkReservedSetting(src: SourceFile, path: PathKey[], key: string, diagnostics: Diagnostic[]): void {
  const via = KAFKA_SETTINGS_FROM_KEYS[key];
  if (via) {
    diagnostics.push(diagnostic(locate(src, path, 'key'), 'reserved-setting', `setting "${key}" is derived from the pipeline`, { hint: `use the "${via}" key instead` }));
  }
}

function toPipeline(src: SourceFile, raw: Raw, database: string, kafka: KafkaConnection, diagnostics: Diagnostic[]): PipelineSpec | undefined {
  const name = String(raw.name);
  const at = (path: PathKey[], part: 'key' | 'value' = 'value') => locate(src, path, part);
  let ok = true;
  if (!checkObjectName(name, 'pipeline', at(['name']), diagnostics)) ok = false;
  else if (!PIPELINE_NAME.test(name)) {
    diagnostics.push(
      diagnostic(at(['name']), 'invalid-name', `pipeline name ${JSON.stringify(name)} cannot form object names`, {
        expected: 'letters, digits, "_" or "-", starting with a letter or "_"',
        hint: `try "${name.replace(/_?[^\p{L}\p{N}_-]+_?/gu, '_').replace(/^([^\p{L}_])/u, '_$1')}"`,
      }),
    );
    ok = false;
  }

  const description = raw.description !== undefined ? String(raw.description) : undefined;
  if (description !== undefined && /\[chpipe:/.test(description)) {
    diagnostics.push(diagnostic(at(['description']), 'invalid-value', 'description must not contain "[chpipe:" (chpipe writes that marker itself)'));
    ok = false;
  }
  const kind = raw.publish !== undefined ? 'publish' : raw.from !== undefined ? 'rollup' : raw.aggregate !== undefined ? 'aggregate' : 'ingest';
  const forbidden: Record<typeof kind, string[]> = {
    publish: ['source', 'columns', 'table', 'aggregate', 'filter', 'explode', 'from'],
    rollup: ['source', 'columns', 'explode'],
    aggregate: [],
    ingest: [],
  };
  for (const key of forbidden[kind]) {
    if (raw[key] !== undefined) {
      const hint = kind === 'publish' ? 'publish pipelines read from another pipeline: use publish.from, publish.columns and publish.where' : 'a pipeline with from: reads the rows of that pipeline\'s table: it has no Kafka source and no columns of its own (compute in by and measures)';
      diagnostics.push(diagnostic(at([key], 'key'), 'conflict', `a ${kind} pipeline takes no "${key}"`, { hint }));
      ok = false;
    }
  }
  if (kind === 'rollup' && raw.aggregate === undefined) {
    diagnostics.push(diagnostic(at(['from'], 'key'), 'missing-key', 'a pipeline with from: needs aggregate: (by and measures)', { hint: 'from: rolls another pipeline\'s rows up; to read a topic, write source: instead' }));
    ok = false;
  }
  const named = toObjectNames(src, raw, kind, diagnostics);
  if (named === null) ok = false;
  const objects = named?.names;
  const without = named?.without ?? [];
  const base = { name, file: src, ...(description !== undefined ? { description } : {}), ...(objects ? { objects } : {}), ...(without.length ? { without } : {}) };
  if (kind === 'publish') {
    const p = raw.publish as Raw;
    const settings = settingsOf(p.settings);
    for (const key of Object.keys(settings)) checkReservedSetting(src, ['publish', 'settings', key], key, diagnostics);
    const spec: PublishSpec = {
      ...base,
      kind,
      from: String(p.from),
      ...(p.where !== undefined ? { where: String(p.where) } : {}),
      ...(p.columns !== undefined ? { columns: (p.columns as unknown[]).map(String) } : {}),
      topic: String(p.topic),
      format: String(p.format ?? 'JSONEachRow'),
      group: String(p.group ?? defaultGroup(database, name)),
      ...(p.brokers !== undefined ? { brokers: brokersOf(p.brokers) } : {}),
      settings: { ...kafka.settings, ...settings },
    };
    if (!spec.brokers && !kafka.brokers && !kafka.namedCollection) {
      diagnostics.push(diagnostic(at(['publish']), 'missing-key', 'no Kafka brokers for this pipeline', { hint: 'set kafka.brokers in chpipe.yaml or publish.brokers here' }));
      ok = false;
    }
    if (!checkBrokers(spec.brokers, at(['publish', 'brokers']), diagnostics)) ok = false;
    return ok ? spec : undefined;
  }

  if (kind === 'rollup') {
    if (!ok) return undefined;
    const agg = aggregateOf(src, raw, (raw.table as Raw | undefined) ?? {}, diagnostics);
    if (diagnostics.some((d) => d.file === src.path)) return undefined;
    const spec: RollupSpec = { ...base, kind, from: String(raw.from), ...agg, ...(raw.filter !== undefined ? { filter: String(raw.filter) } : {}) };
    return spec;
  }
  for (const key of ['source', 'columns'] as const) {
    if (raw[key] === undefined) {
      diagnostics.push(diagnostic(at([]), 'missing-key', `missing required key "${key}"`, { expected: kind === 'ingest' ? 'an ingest pipeline has source, columns and table (or publish: for a publish pipeline)' : 'an aggregate pipeline has source, columns and aggregate' }));
      ok = false;
    }
  }
  if (!ok) return undefined;
  const parsedSource = toSource(src, raw.source as Raw, database, name, kafka, diagnostics);
  if (parsedSource && parsedSource.onError !== 'stream' && named) {
    for (const role of STREAM_ROLES) {
      if (objects?.[role] === undefined && !without.includes(role)) continue;
      diagnostics.push(diagnostic(at(['objects', role], 'key'), 'conflict', `objects.${role} ${without.includes(role) ? 'removes' : 'names'} the ${ROLE_WORDS[role]}, which exists only with on_error: stream`, { hint: `remove objects.${role}, or set source.on_error: stream` }));
      ok = false;
    }
  }
  // `hub: null` and `hub_mv: null` together: the table's view and the errors view read the Kafka table directly.
  const direct = without.includes('hub') || without.includes('hub_mv');
  if (direct && !(without.includes('hub') && without.includes('hub_mv'))) {
    const [given, missing] = without.includes('hub') ? (['hub', 'hub_mv'] as const) : (['hub_mv', 'hub'] as const);
    diagnostics.push(diagnostic(at(['objects', given], 'key'), 'conflict', `objects.${given}: null needs objects.${missing}: null too (the hub and its view exist together)`, { hint: `add \`${missing}: null\` under objects: for the direct shape (both views read the Kafka table), or remove \`${given}: null\`` }));
    ok = false;
  }
  const source = parsedSource && direct ? { ...parsedSource, fanOut: 'direct' as const } : parsedSource;
  const columns = toColumns(src, raw.columns as Record<string, unknown>, source?.onError === 'stream', diagnostics);
  if (source && !checkColumnFields(src, source, columns, diagnostics)) ok = false;
  const filter = raw.filter !== undefined ? String(raw.filter) : undefined;
  const explode = raw.explode !== undefined ? { explode: String(raw.explode).trim() } : {};
  const columnNames = columns.map((c) => c.name);
  // A column refused above (bad name, from + expr) is not "unknown" to order_by: say nothing more about it.
  const allColumns = columns.length === Object.keys(raw.columns as object).length;
  const tableRaw = (raw.table as Raw | undefined) ?? {};
  const tableSettings = settingsOf(tableRaw.settings);

  if (kind === 'aggregate') {
    const agg = aggregateOf(src, raw, tableRaw, diagnostics);
    if (!source || diagnostics.some((d) => d.file === src.path)) return undefined;
    const spec: AggregateSpec = { ...base, kind, source, columns, ...agg, ...(filter !== undefined ? { filter } : {}), ...explode };
    return ok ? spec : undefined;
  }

  if (tableRaw.order_by === undefined) {
    diagnostics.push(diagnostic(at(raw.table === undefined ? [] : ['table']), 'missing-key', 'missing required key "table.order_by"', { expected: 'the sorting key of the table, e.g. `table: { order_by: [api_id] }`', hint: columnNames[0] ? `order_by: [${columnNames[0]}]` : undefined }));
    return undefined;
  }
  const orderBy = (Array.isArray(tableRaw.order_by) ? tableRaw.order_by : [tableRaw.order_by]).map(String);
  orderBy.forEach((item, i) => {
    if (allColumns && !columnNames.includes(item) && /^[\p{L}_][\p{L}\p{N}_]*$/u.test(item)) {
      diagnostics.push(diagnostic(at(['table', 'order_by', ...(Array.isArray(tableRaw.order_by) ? [i] : [])]), 'unknown-column', `order_by names unknown column "${item}"`, { expected: `one of ${columnNames.join(', ')}`, hint: didYouMean(item, columnNames) }));
      ok = false;
    }
  });
  const engine = String(tableRaw.engine ?? 'MergeTree');
  if (!/^(MergeTree|ReplacingMergeTree|SummingMergeTree|CollapsingMergeTree|VersionedCollapsingMergeTree|CoalescingMergeTree)(\(.*\))?$/s.test(engine.trim())) {
    const family = engine.replace(/\(.*$/s, '');
    diagnostics.push(
      diagnostic(at(['table', 'engine']), 'unknown-engine', `table engine "${engine}" is not a MergeTree-family engine chpipe manages`, {
        expected: 'MergeTree, ReplacingMergeTree[(ver)], SummingMergeTree[(columns)], CollapsingMergeTree(sign), VersionedCollapsingMergeTree(sign, version)',
        hint: didYouMean(family, ['MergeTree', 'ReplacingMergeTree', 'SummingMergeTree', 'CollapsingMergeTree', 'VersionedCollapsingMergeTree']),
      }),
    );
    ok = false;
  }
  const table: TableSpec = {
    orderBy,
    ...(tableRaw.partition_by !== undefined ? { partitionBy: String(tableRaw.partition_by) } : {}),
    ...(tableRaw.ttl !== undefined ? { ttl: String(tableRaw.ttl) } : {}),
    engine: engine.trim(),
    settings: tableSettings,
  };
  if (!source || !ok) return undefined;
  const spec: IngestSpec = { ...base, kind, source, columns, table, ...(filter !== undefined ? { filter } : {}), ...explode };
  return spec;
}

/** The roles each kind of pipeline has objects for (the stream roles only with on_error: stream). */
const KIND_ROLES: Readonly<Record<PipelineSpec['kind'], readonly Role[]>> = {
  ingest: ['table', 'queue', 'mv', 'hub', 'hub_mv', 'errors', 'errors_mv'],
  aggregate: ['view', 'state', 'queue', 'mv', 'hub', 'hub_mv', 'errors', 'errors_mv'],
  rollup: ['view', 'state', 'mv'],
  publish: ['queue', 'mv'],
};
const STREAM_ROLES: readonly Role[] = ['hub', 'hub_mv', 'errors', 'errors_mv'];

/**
 * `objects:` — explicit object names by role. The JSON Schema has checked the
 * keys are roles; here: the role exists for this kind of pipeline, the name is
 * usable, and no two roles share a name. `null` when something is wrong.
 */
function toObjectNames(src: SourceFile, raw: Raw, kind: PipelineSpec['kind'], diagnostics: Diagnostic[]): { names?: Partial<Record<Role, string>>; without: Role[] } | undefined | null {
  if (raw.objects === undefined) return undefined;
  const out: Partial<Record<Role, string>> = {};
  const without: Role[] = [];
  const seen = new Map<string, Role>();
  let ok = true;
  for (const [key, value] of Object.entries(raw.objects as Raw)) {
    const role = key as Role;
    const at = (part: 'key' | 'value' = 'value') => locate(src, ['objects', key], part);
    if (!KIND_ROLES[kind].includes(role)) {
      diagnostics.push(diagnostic(at('key'), 'unknown-key', `a${kind === 'ingest' ? 'n' : ''} ${kind} pipeline has no ${ROLE_WORDS[role] ?? key} to name`, { expected: `one of ${KIND_ROLES[kind].join(', ')}`, hint: didYouMean(key, KIND_ROLES[kind]) }));
      ok = false;
      continue;
    }
    if (value === null) {
      // `role: null`: the pipeline has no such object (OPTIONAL_ROLES); any other role cannot be left out.
      if (OPTIONAL_ROLES[kind].includes(role)) without.push(role);
      else {
        diagnostics.push(diagnostic(at(), 'invalid-value', `objects.${key} cannot be null: a${kind === 'ingest' ? 'n' : ''} ${kind} pipeline always has its ${ROLE_WORDS[role]}`, { expected: OPTIONAL_ROLES[kind].length ? `a name, or null only for ${OPTIONAL_ROLES[kind].join(', ')}` : 'a name', hint: `write a name, e.g. ${key}: ${objectName(String(raw.name ?? 'NAME'), role)}, or remove the key` }));
        ok = false;
      }
      continue;
    }
    const name = String(value);
    if (!checkObjectName(name, `objects.${key}`, at(), diagnostics, 192)) {
      ok = false;
      continue;
    }
    if (name.startsWith('_chpipe_')) {
      diagnostics.push(diagnostic(at(), 'invalid-name', `objects.${key} "${name}" starts with _chpipe_, which chpipe keeps for its own tables`, { hint: `try "${name.slice('_chpipe_'.length) || 'events'}"` }));
      ok = false;
      continue;
    }
    const prior = seen.get(name);
    if (prior) {
      diagnostics.push(diagnostic(at(), 'duplicate-name', `objects.${key} and objects.${prior} both name "${name}"`, { hint: 'give every object of the pipeline its own name' }));
      ok = false;
      continue;
    }
    seen.set(name, role);
    out[role] = name;
  }
  return ok ? { ...(Object.keys(out).length ? { names: out } : {}), without } : null;
}

/**
 * The roles `objects:` may set to `null`, leaving the object out: the hub and its
 * view (both views of on_error: stream then read the Kafka table directly, the
 * shape ClickHouse's docs show) and an aggregate's finalizing view.
 */
const OPTIONAL_ROLES: Readonly<Record<PipelineSpec['kind'], readonly Role[]>> = {
  ingest: ['hub', 'hub_mv'],
  aggregate: ['view', 'hub', 'hub_mv'],
  rollup: ['view'],
  publish: [],
};

function checkOutputName(src: SourceFile, path: PathKey[], name: string, seen: Map<string, PathKey[]>, diagnostics: Diagnostic[]): void {
  const prior = seen.get(name);
  if (prior) {
    diagnostics.push(diagnostic(locate(src, path, 'key'), 'duplicate-name', `"${name}" is both a by key and a measure`, { hint: 'give the measure another name' }));
    return;
  }
  seen.set(name, path);
}

/** `aggregate:` (by, measures, engine) and `table:` of an aggregate or a rollup; diagnostics for what is wrong in them. */
function aggregateOf(src: SourceFile, raw: Raw, tableRaw: Raw, diagnostics: Diagnostic[]): Pick<AggregateSpec, 'by' | 'measures' | 'engine' | 'table'> {
  const at = (path: PathKey[], part: 'key' | 'value' = 'value') => locate(src, path, part);
  for (const key of ['order_by', 'engine']) {
    if (tableRaw[key] !== undefined) {
      diagnostics.push(diagnostic(at(['table', key], 'key'), 'conflict', `an aggregate pipeline takes no table.${key}`, { hint: 'the state table is an AggregatingMergeTree ordered by the aggregate.by keys' }));
    }
  }
  const agg = raw.aggregate as { by: Record<string, string>; measures: Record<string, string>; engine?: 'AggregatingMergeTree' | 'SummingMergeTree' };
  const by = Object.entries(agg.by).map(([n, expr]) => ({ name: n, expr: String(expr) }));
  const measures: MeasureSpec[] = [];
  for (const [n, call] of Object.entries(agg.measures)) {
    const m = parseMeasure(n, String(call));
    if (!m) {
      diagnostics.push(
        diagnostic(at(['aggregate', 'measures', n]), 'invalid-measure', `measure "${n}" is not a single aggregate call: ${JSON.stringify(call)}`, {
          expected: 'one call such as avg(x), count(), quantile(0.95)(x)',
          hint: 'declare one measure per call (e.g. total: sum(x), n: count()) and combine them in queries on the view',
        }),
      );
    } else if (agg.engine === 'SummingMergeTree' && !SUMMABLE.has(m.fn)) {
      diagnostics.push(
        diagnostic(at(['aggregate', 'measures', n]), 'not-summable', `measure "${n}" is ${m.fn}, which a SummingMergeTree cannot keep: its merges add numbers up`, {
          expected: `one of ${[...SUMMABLE].map((f) => `${f}()`).join(', ')}`,
          hint: 'keep the default engine (AggregatingMergeTree) for this aggregate, or make the measure a count or a sum',
        }),
      );
    } else measures.push(m);
  }
  const outputs = new Map<string, PathKey[]>();
  for (const b of by) checkOutputName(src, ['aggregate', 'by', b.name], b.name, outputs, diagnostics);
  for (const m of measures) checkOutputName(src, ['aggregate', 'measures', m.name], m.name, outputs, diagnostics);
  return {
    by,
    measures,
    engine: agg.engine ?? 'AggregatingMergeTree',
    table: {
      ...(tableRaw.partition_by !== undefined ? { partitionBy: String(tableRaw.partition_by) } : {}),
      ...(tableRaw.ttl !== undefined ? { ttl: String(tableRaw.ttl) } : {}),
      settings: settingsOf(tableRaw.settings),
    },
  };
}

/** The measures a SummingMergeTree keeps: what its merges add up is a count or a sum. */
const SUMMABLE: ReadonlySet<string> = new Set(['count', 'sum', 'countIf', 'sumIf']);

export function defaultGroup(database: string, name: string): string {
  return `chpipe_${database}_${name}`;
}

function toSource(src: SourceFile, raw: Raw, database: string, name: string, kafka: KafkaConnection, diagnostics: Diagnostic[]): SourceSpec | undefined {
  const at = (path: PathKey[], part: 'key' | 'value' = 'value') => locate(src, ['source', ...path], part);
  let ok = true;
  if ((raw.topic === undefined) === (raw.topics === undefined)) {
    diagnostics.push(diagnostic(at(raw.topic !== undefined ? ['topics'] : [], raw.topic !== undefined ? 'key' : 'value'), raw.topic !== undefined ? 'conflict' : 'missing-key', raw.topic !== undefined ? 'source.topic and source.topics are exclusive' : 'missing required key "topic" in "source"', { expected: 'source.topic: NAME, or source.topics: [A, B]' }));
    ok = false;
  }
  const topics = raw.topic !== undefined ? [String(raw.topic)] : ((raw.topics as unknown[] | undefined) ?? []).map(String);
  const format = String(raw.format ?? 'JSONEachRow');
  const onError = (raw.on_error ?? 'stall') as OnError;
  const settings = settingsOf(raw.settings);
  for (const key of Object.keys(settings)) {
    checkReservedSetting(src, ['source', 'settings', key], key, diagnostics);
    if (KAFKA_SETTINGS_FROM_KEYS[key]) ok = false;
  }
  if (onError === 'skip' && settings.kafka_skip_broken_messages === undefined) settings.kafka_skip_broken_messages = SKIP_BROKEN_MESSAGES_DEFAULT;
  if (onError !== 'skip' && settings.kafka_skip_broken_messages !== undefined) {
    diagnostics.push(diagnostic(at(['settings', 'kafka_skip_broken_messages'], 'key'), 'conflict', `kafka_skip_broken_messages contradicts on_error: ${onError}`, { hint: 'write `on_error: skip` (the setting then sets how many broken messages a block may skip)' }));
    ok = false;
  }
  if (SCHEMA_FILE_FORMATS.has(format) && raw.schema === undefined) {
    diagnostics.push(diagnostic(at(['format']), 'missing-key', `format ${format} needs a schema`, { hint: 'add `schema: file.proto:MessageName` to source' }));
    ok = false;
  }
  if (raw.schema !== undefined && !SCHEMA_FILE_FORMATS.has(format)) {
    diagnostics.push(diagnostic(at(['schema'], 'key'), 'conflict', `source.schema is used only by ${[...SCHEMA_FILE_FORMATS].join(', ')}, not ${format}`));
    ok = false;
  }
  if (format === 'AvroConfluent' && raw.schema_registry === undefined && kafka.schemaRegistry === undefined) {
    diagnostics.push(diagnostic(at(['format']), 'missing-key', 'format AvroConfluent needs a schema registry', { hint: 'add `schema_registry: http://registry:8081` to source, or kafka.schema_registry to chpipe.yaml' }));
    ok = false;
  }
  if (raw.schema_registry !== undefined && format !== 'AvroConfluent') {
    diagnostics.push(diagnostic(at(['schema_registry'], 'key'), 'conflict', `source.schema_registry is used only by AvroConfluent, not ${format}`));
    ok = false;
  }
  const brokers = brokersOf(raw.brokers);
  if (!checkBrokers(brokers, locate(src, ['source', 'brokers']), diagnostics)) ok = false;
  if (!brokers && !kafka.brokers && !kafka.namedCollection) {
    diagnostics.push(diagnostic(locate(src, ['source']), 'missing-key', 'no Kafka brokers for this pipeline', { hint: 'set kafka.brokers in chpipe.yaml or source.brokers here' }));
    ok = false;
  }
  if (raw.errors_retention_days !== undefined && onError !== 'stream') {
    diagnostics.push(diagnostic(at(['errors_retention_days'], 'key'), 'conflict', `source.errors_retention_days applies to the errors table of on_error: stream, not on_error: ${onError}`, { hint: 'set `on_error: stream`, or remove errors_retention_days' }));
    ok = false;
  }
  const fields = fieldsOf(src, raw.fields, diagnostics);
  if (!fields) ok = false;
  if (!ok) return undefined;
  return {
    topics,
    ...(raw.fields !== undefined ? { fields } : {}),
    format,
    group: String(raw.group ?? defaultGroup(database, name)),
    ...(raw.consumers !== undefined ? { consumers: Number(raw.consumers) } : {}),
    ...(raw.partitions !== undefined ? { partitions: Number(raw.partitions) } : {}),
    onError,
    ...(raw.errors_retention_days !== undefined ? { errorsRetentionDays: Number(raw.errors_retention_days) } : {}),
    ...(brokers ? { brokers } : {}),
    ...(raw.schema !== undefined ? { schema: String(raw.schema) } : {}),
    ...(raw.schema_registry !== undefined ? { schemaRegistry: String(raw.schema_registry) } : format === 'AvroConfluent' && kafka.schemaRegistry !== undefined ? { schemaRegistry: kafka.schemaRegistry } : {}),
    settings: { ...kafka.settings, ...settings },
  };
}

/** `source.fields`: names a Kafka table column may have (not a virtual column's), each with a type; undefined after a diagnostic. */
function fieldsOf(src: SourceFile, raw: unknown, diagnostics: Diagnostic[]): FieldSpec[] | undefined {
  if (raw === undefined) return [];
  const out: FieldSpec[] = [];
  let ok = true;
  for (const [name, type] of Object.entries(raw as Record<string, unknown>)) {
    const at = locate(src, ['source', 'fields', name], 'key');
    if (name in KAFKA_VIRTUAL_COLUMNS || name in KAFKA_STREAM_VIRTUAL_COLUMNS) {
      diagnostics.push(diagnostic(at, 'invalid-name', `field "${name}" would hide the Kafka virtual column of that name`, { hint: `virtual columns are read without declaring them: a column \`${name}: { type: …, from: ${name} }\`, or ${name} in filter and expr` }));
      ok = false;
      continue;
    }
    if (!checkObjectName(name, 'field', at, diagnostics, 255)) {
      ok = false;
      continue;
    }
    out.push({ name, type: String(type).trim() });
  }
  return ok ? out : undefined;
}

/**
 * `customer.id`, `items[1].sku`: the field (the first name) and the expression that reads the member — a chain of
 * `tupleElement` (named tuples: what JSONEachRow parses a nested object into, on every supported version) and
 * 1-based array subscripts. Undefined when the text is not such a path.
 */
export function pathExpr(path: string): { field: string; expr: string } | undefined {
  const parts = /^([\p{L}_][\p{L}\p{N}_]*)((?:\[\d+\]|\.[\p{L}_][\p{L}\p{N}_]*)*)$/u.exec(path.trim());
  if (!parts || !parts[2]) return undefined;
  const field = parts[1] as string;
  let expr = ident(field);
  for (const step of (parts[2] as string).match(/\[\d+\]|\.[\p{L}_][\p{L}\p{N}_]*/gu) ?? []) {
    expr = step.startsWith('[') ? `${expr}${step}` : `tupleElement(${expr}, ${stringLiteral(step.slice(1))})`;
  }
  return { field, expr };
}

/** With `source.fields`, each plain column reads a declared field: one it names that is not declared is a mistake at its line. */
function checkColumnFields(src: SourceFile, source: SourceSpec, columns: readonly ColumnSpec[], diagnostics: Diagnostic[]): boolean {
  if (!source.fields) return true;
  const declared = source.fields.map((f) => f.name);
  let ok = true;
  for (const c of columns) {
    const root = c.path !== undefined ? pathExpr(c.path)?.field : undefined;
    if (root !== undefined && !declared.includes(root)) {
      diagnostics.push(
        diagnostic(locate(src, ['columns', c.name, 'path']), 'unknown-field', `column "${c.name}" reads path ${c.path as string} into field "${root}", which source.fields does not declare`, {
          expected: `a path into one of the fields: ${declared.join(', ')}`,
          hint: didYouMean(root, declared) ?? `declare it under source.fields, e.g. \`${root}: Tuple(…)\``,
        }),
      );
      ok = false;
      continue;
    }
    if (c.from !== undefined || c.expr !== undefined) continue;
    const field = c.field ?? c.name;
    if (declared.includes(field)) continue;
    const near = didYouMean(field, declared);
    diagnostics.push(
      diagnostic(locate(src, ['columns', c.name, ...(c.field !== undefined ? ['field'] : [])], c.field !== undefined ? 'value' : 'key'), 'unknown-field', `column "${c.name}" reads message field "${field}", which source.fields does not declare`, {
        expected: `one of the fields: ${declared.join(', ')}`,
        hint: near ?? `add \`${field}: ${c.type}\` under source.fields, or compute the column with expr:`,
      }),
    );
    ok = false;
  }
  return ok;
}

function toColumns(src: SourceFile, raw: Record<string, unknown>, stream: boolean, diagnostics: Diagnostic[]): ColumnSpec[] {
  const virtuals = { ...KAFKA_VIRTUAL_COLUMNS, ...(stream ? KAFKA_STREAM_VIRTUAL_COLUMNS : {}) };
  const out: ColumnSpec[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const at = (path: PathKey[] = [], part: 'key' | 'value' = 'value') => locate(src, ['columns', name, ...path], part);
    // A virtual column stored under its own name reads it (`from:` the same name); any other column of that name would hide it.
    const readsItself = typeof value === 'object' && value !== null && (value as Raw).from === name && (value as Raw).expr === undefined && (value as Raw).field === undefined;
    if ((name in KAFKA_VIRTUAL_COLUMNS || name in KAFKA_STREAM_VIRTUAL_COLUMNS) && !readsItself) {
      const type = typeof value === 'string' ? value : ((value as Raw | null)?.type ?? '…');
      diagnostics.push(diagnostic(at([], 'key'), 'invalid-name', `column "${name}" would hide the Kafka virtual column of that name`, { hint: `to store the virtual column under its own name, write \`${name}: { type: ${String(type)}, from: ${name} }\`` }));
      continue;
    }
    if (!checkObjectName(name, 'column', at([], 'key'), diagnostics, 255)) continue;
    if (typeof value === 'string') {
      out.push({ name, type: value.trim() });
      continue;
    }
    const c = value as Raw;
    if (c.from !== undefined && c.expr !== undefined) {
      diagnostics.push(diagnostic(at(['expr'], 'key'), 'conflict', `column "${name}" has both from and expr`, { expected: 'from: a Kafka virtual column, or expr: an expression — not both' }));
      continue;
    }
    if (c.path !== undefined && (c.from !== undefined || c.expr !== undefined || c.field !== undefined)) {
      diagnostics.push(diagnostic(at(['path'], 'key'), 'conflict', `column "${name}" has path together with ${c.from !== undefined ? 'from' : c.expr !== undefined ? 'expr' : 'field'}`, { expected: 'path: a member of a nested field (customer.id, items[1].sku) — alone' }));
      continue;
    }
    const path = c.path !== undefined ? pathExpr(String(c.path)) : undefined;
    if (c.path !== undefined && path === undefined) {
      diagnostics.push(diagnostic(at(['path']), 'invalid-path', `column "${name}" has path ${JSON.stringify(c.path)}, which is not a path into a message field`, { expected: 'field.member, with [N] after an array (1 is the first element): customer.id, items[1].sku, a.b.c' }));
      continue;
    }
    if (c.from !== undefined && !(String(c.from) in virtuals)) {
      const from = String(c.from);
      const streamOnly = from in KAFKA_STREAM_VIRTUAL_COLUMNS;
      diagnostics.push(
        diagnostic(at(['from']), 'unknown-virtual-column', streamOnly ? `virtual column "${from}" exists only with on_error: stream` : `"${from}" is not a Kafka virtual column`, {
          expected: `one of ${Object.keys(virtuals).join(', ')}`,
          hint: streamOnly ? 'set source.on_error: stream' : didYouMean(from, Object.keys(virtuals)),
        }),
      );
      continue;
    }
    if (c.field !== undefined && (c.from !== undefined || c.expr !== undefined)) {
      diagnostics.push(diagnostic(at(['field'], 'key'), 'conflict', `column "${name}" has field together with ${c.from !== undefined ? 'from' : 'expr'}`, { expected: 'field: the message field a plain column is parsed from; from and expr columns are not parsed from the message' }));
      continue;
    }
    // A renamed plain column keeps reading the message field it always read, unless `field:` says otherwise.
    const field = c.field !== undefined ? String(c.field) : c.renamed_from !== undefined && c.from === undefined && c.expr === undefined ? String(c.renamed_from) : undefined;
    const taken = field !== undefined ? out.find((o) => o.from === undefined && o.expr === undefined && (o.field ?? o.name) === field) : undefined;
    if (taken) {
      diagnostics.push(diagnostic(at([c.field !== undefined ? 'field' : 'renamed_from']), 'conflict', `column "${name}" reads message field "${field}", which column "${taken.name}" already reads`, { hint: `give one of them another field: (the message field it is parsed from)` }));
      continue;
    }
    out.push({
      name,
      type: String(c.type).trim(),
      ...(field !== undefined && field !== name ? { field } : {}),
      ...(c.from !== undefined ? { from: String(c.from) } : {}),
      ...(c.expr !== undefined ? { expr: String(c.expr) } : {}),
      ...(path !== undefined ? { path: String(c.path), expr: path.expr } : {}),
      ...(c.comment !== undefined ? { comment: String(c.comment) } : {}),
      ...(c.renamed_from !== undefined ? { renamedFrom: String(c.renamed_from) } : {}),
    });
  }
  return out;
}

/** `fn(args)` or `fn(params)(args)`, with balanced parentheses and nothing after. */
export function parseMeasure(name: string, call: string): MeasureSpec | undefined {
  const text = call.trim();
  const head = /^([A-Za-z_][A-Za-z0-9_]*)\s*\(/.exec(text);
  if (!head) return undefined;
  const groups: string[] = [];
  let i = (head[0] as string).length - 1;
  while (i < text.length && groups.length < 2) {
    if (text[i] !== '(') break;
    const end = matchingParen(text, i);
    if (end < 0) return undefined;
    groups.push(text.slice(i + 1, end));
    i = end + 1;
    while (text[i] === ' ') i++;
  }
  if (i !== text.length || groups.length === 0) return undefined;
  const fn = head[1] as string;
  return groups.length === 2
    ? { name, call: text, fn, params: (groups[0] as string).trim(), args: (groups[1] as string).trim() }
    : { name, call: text, fn, args: (groups[0] as string).trim() };
}

function matchingParen(text: string, open: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === "'" || ch === '`' || ch === '"') quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Pipeline names and the object names they produce must be unique across files. */
function checkUniqueness(pipelines: PipelineSpec[], diagnostics: Diagnostic[]): void {
  const owners = new Map<string, { pipeline: PipelineSpec; role: Role }>();
  for (const p of pipelines) {
    for (const role of rolesOf(p)) {
      const obj = pipelineObjectName(p, role);
      const prior = owners.get(obj);
      if (prior && prior.pipeline === p && prior.role !== role) {
        diagnostics.push(diagnostic(locate(p.file, p.objects?.[role] !== undefined ? ['objects', role] : p.objects?.[prior.role] !== undefined ? ['objects', prior.role] : ['name']), 'duplicate-name', `the ${ROLE_WORDS[role]} and the ${ROLE_WORDS[prior.role]} of pipeline "${p.name}" would both be named "${obj}"`, { hint: 'give one of them another name under objects:' }));
        break;
      }
      if (prior && prior.pipeline !== p) {
        const first = locate(prior.pipeline.file, ['name']);
        const where = `${first.file}:${first.line}:${first.col}`;
        diagnostics.push(
          diagnostic(
            locate(p.file, ['name']),
            'duplicate-name',
            prior.pipeline.name === p.name
              ? `pipeline "${p.name}" is also declared in ${where}`
              : `pipeline "${p.name}" needs the ${ROLE_WORDS[role]} "${obj}", which is already the ${ROLE_WORDS[prior.role]} of pipeline "${prior.pipeline.name}" (${where})`,
            { hint: 'rename one of the pipelines' },
          ),
        );
        break;
      }
      owners.set(obj, { pipeline: p, role });
    }
  }
}

const ROLE_WORDS: Readonly<Record<Role, string>> = {
  queue: 'Kafka table',
  hub: 'hub table',
  hub_mv: 'hub view',
  table: 'table',
  state: 'state table',
  view: 'view',
  mv: 'materialized view',
  errors: 'errors table',
  errors_mv: 'errors view',
  // Cluster mode's per-node tables (compile/cluster.ts).
  table_local: 'per-node table',
  state_local: 'per-node state table',
  errors_local: 'per-node errors table',
};

export function rolesOf(p: PipelineSpec): readonly (typeof ROLES)[number][] {
  const roles = allRolesOf(p);
  return p.without?.length ? roles.filter((r) => !p.without?.includes(r)) : roles;
}

function allRolesOf(p: PipelineSpec): readonly (typeof ROLES)[number][] {
  switch (p.kind) {
    case 'ingest':
      return p.source.onError === 'stream' ? ['table', 'queue', 'hub', 'hub_mv', 'mv', 'errors', 'errors_mv'] : ['table', 'queue', 'mv'];
    case 'aggregate':
      return p.source.onError === 'stream' ? ['view', 'state', 'queue', 'hub', 'hub_mv', 'mv', 'errors', 'errors_mv'] : ['view', 'state', 'queue', 'mv'];
    case 'rollup':
      return ['view', 'state', 'mv'];
    case 'publish':
      return ['queue', 'mv'];
  }
}

/**
 * publish.from names a pipeline (or one of its tables); publish.columns exist there.
 * A source declared in a file that has errors of its own is not reported again here.
 */
function checkPublishSources(pipelines: PipelineSpec[], declared: ReadonlySet<string>, diagnostics: Diagnostic[]): void {
  const byName = new Map(pipelines.map((p) => [p.name, p]));
  const tables = new Map<string, PipelineSpec>();
  for (const p of pipelines) {
    if (p.kind === 'ingest') tables.set(pipelineObjectName(p, 'table'), p);
    if (p.kind === 'aggregate' || p.kind === 'rollup') tables.set(pipelineObjectName(p, 'state'), p);
  }
  for (const p of pipelines) {
    if (p.kind === 'rollup') {
      // A rollup reads an ingest pipeline's table (an aggregate's state holds states, not rows).
      const upstream = byName.get(p.from);
      if (upstream?.kind === 'ingest') continue;
      if (!upstream && declared.has(p.from)) continue;
      const candidates = pipelines.filter((x) => x.kind === 'ingest').map((x) => x.name);
      diagnostics.push(
        diagnostic(locate(p.file, ['from']), 'unknown-source', upstream ? `from names ${upstream.kind} pipeline "${p.from}"; a rollup reads the rows of an ingest pipeline's table` : `from names no pipeline: "${p.from}"`, {
          expected: candidates.length ? `one of ${candidates.join(', ')}` : 'an ingest pipeline of this project',
          hint: didYouMean(p.from, candidates),
        }),
      );
      continue;
    }
    if (p.kind !== 'publish') continue;
    const source = byName.get(p.from) ?? tables.get(p.from);
    if (!source && [...declared].some((name) => !byName.has(name) && (p.from === name || p.from === pipelineObjectName({ name }, 'state')))) continue;
    if (!source || source.kind === 'publish') {
      const candidates = [...pipelines.filter((x) => x.kind !== 'publish').map((x) => x.name), ...tables.keys()];
      diagnostics.push(
        diagnostic(locate(p.file, ['publish', 'from']), 'unknown-source', source ? `publish.from names publish pipeline "${p.from}"; it has no table to read` : `publish.from names no pipeline or table: "${p.from}"`, {
          expected: candidates.length ? `one of ${[...new Set(candidates)].join(', ')}` : 'an ingest or aggregate pipeline',
          hint: didYouMean(p.from, candidates),
        }),
      );
      continue;
    }
    const available = outputColumns(source);
    (p.columns ?? []).forEach((c, i) => {
      if (!available.includes(c)) {
        diagnostics.push(diagnostic(locate(p.file, ['publish', 'columns', i]), 'unknown-column', `publish.columns names unknown column "${c}" of "${source.name}"`, { expected: `one of ${available.join(', ')}`, hint: didYouMean(c, available) }));
      }
    });
  }
}

/** The columns a pipeline's queryable object has: table columns, or by keys + measures. */
export function outputColumns(p: IngestSpec | AggregateSpec | RollupSpec): string[] {
  return p.kind === 'ingest' ? p.columns.map((c) => c.name) : [...p.by.map((b) => b.name), ...p.measures.map((m) => m.name)];
}

/** Every `${VAR}` the project's Kafka connection references (brokers, settings): they stay references in migrations. */
export function environmentVariables(spec: ProjectSpec): string[] {
  const texts = [spec.kafka.brokers ?? '', ...Object.values(spec.kafka.settings).map(String)];
  for (const p of spec.pipelines) {
    if (p.kind === 'publish') texts.push(p.brokers ?? '', ...Object.values(p.settings).map(String));
    else if (p.kind !== 'rollup') texts.push(p.source.brokers ?? '', ...Object.values(p.source.settings).map(String));
  }
  return [...new Set(texts.flatMap(envReferences))];
}

/** Variables referenced in chpipe.yaml that this environment does not set (and that have no default), at the key that uses them. */
export function environmentProblems(spec: ProjectSpec, env: Readonly<Record<string, string | undefined>>): Diagnostic[] {
  const out: Diagnostic[] = [];
  const check = (text: string | undefined, path: PathKey[]) => {
    for (const name of expandEnv(text ?? '', env).missing) {
      out.push(diagnostic(locate(spec.source, path), 'env-missing', `environment variable ${name} is not set`, { hint: `set ${name} or write \${${name}:-localhost:9092}` }));
    }
  };
  check(spec.kafka.brokers, ['kafka', 'brokers']);
  for (const [key, value] of Object.entries(spec.kafka.settings)) check(String(value), ['kafka', 'settings', key]);
  return out;
}
