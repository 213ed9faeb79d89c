/**
 * How risky a change is, and why, in words. Pure, over typed values.
 * `safe` only where no message can be lost, skipped, re-read or misparsed and
 * no stored value changes; when unsure, it is not safe.
 */
import type { QueueChangeFlags } from '../diff/change.js';
import type { KafkaTable, SelectParts } from '../model/model.js';
import type { Risk } from './plan.js';

export interface Assessment {
  readonly risk: Risk;
  readonly reason: string;
}

/**
 * Formats that find a message's fields by name. Any other format reads them by
 * position, so a field added, removed or moved shifts what every later field
 * is parsed as.
 */
const NAMED_FORMATS: ReadonlySet<string> = new Set([
  'JSONEachRow',
  'JSONStringsEachRow',
  'JSONObjectEachRow',
  'JSONLines',
  'NDJSON',
  'TSKV',
  'BSONEachRow',
  'Avro',
  'AvroConfluent',
  'Protobuf',
  'ProtobufSingle',
  'ProtobufList',
  'CapnProto',
  'CSVWithNames',
  'CSVWithNamesAndTypes',
  'TSVWithNames',
  'TSVWithNamesAndTypes',
  'TabSeparatedWithNames',
  'TabSeparatedWithNamesAndTypes',
  'JSONCompactEachRowWithNames',
  'JSONCompactEachRowWithNamesAndTypes',
  'CustomSeparatedWithNames',
  'CustomSeparatedWithNamesAndTypes',
]);

/** Engine settings that change how fast or in what batches messages move, never what they mean. */
const PACE_SETTINGS: ReadonlySet<string> = new Set([
  'kafka_max_block_size',
  'kafka_poll_timeout_ms',
  'kafka_poll_max_batch_size',
  'kafka_flush_interval_ms',
  'kafka_num_consumers',
  'kafka_thread_per_consumer',
  'kafka_client_id',
]);

function settingWords(name: string, from: KafkaTable, to: KafkaTable): string {
  const was = from.settings[name];
  const now = to.settings[name];
  const values = `${was === undefined ? 'unset' : String(was)} → ${now === undefined ? 'unset' : String(now)}`;
  if (name === 'kafka_handle_error_mode' || name === 'kafka_skip_broken_messages') {
    return `${name} changes (${values}): malformed messages are handled differently from now on (stall the partition, skip them, or stream them to the errors table)`;
  }
  if (name === 'kafka_commit_every_batch' || name === 'kafka_commit_on_select') return `${name} changes (${values}): offsets are committed differently, so what is re-read after a failure changes`;
  return `${name} changes (${values}): messages still in the topic are parsed with the new setting`;
}

/** What recreating a queue means for messages: safe only when they are read exactly as before. */
export function queueRisk(from: KafkaTable, to: KafkaTable, f: QueueChangeFlags, producer: boolean): Assessment {
  const named = NAMED_FORMATS.has(to.format) && NAMED_FORMATS.has(from.format);
  const cautions: string[] = [];
  if (producer) {
    if (f.format) cautions.push(`messages published from now on are written as ${to.format}, not ${from.format}: every consumer of ${to.topics.join(', ')} must read both`);
    if (f.topics) cautions.push(`rows are published to ${to.topics.join(', ')} from now on, not to ${from.topics.join(', ')}`);
    if (f.brokers) cautions.push('messages are published to other brokers from now on');
    const { added, removed, retyped } = f.fields;
    if (added.length || removed.length || retyped.length || f.fields.reordered) {
      cautions.push(`published messages change shape${added.length ? `: they gain ${added.join(', ')}` : ''}${removed.length ? `; they lose ${removed.join(', ')}` : ''}${retyped.length ? `; ${retyped.join(', ')} change type` : ''}${f.fields.reordered ? '; fields change order' : ''}`);
    }
  } else {
    if (f.group) cautions.push(`consumer group changes from ${from.group} to ${to.group}: the new group starts at the earliest retained offset; messages will be re-read`);
    if (f.topics) cautions.push(`topics change (${from.topics.join(',')} → ${to.topics.join(',')}): group ${to.group} has no offsets for a new topic and reads it from the earliest retained offset; a removed topic is no longer read`);
    if (f.brokers) cautions.push(`brokers change: committed offsets belong to a Kafka cluster; on another cluster group ${to.group} starts from its offsets there, or the earliest retained offset, so messages may be re-read or skipped`);
    if (f.format) cautions.push(`format changes from ${from.format} to ${to.format}: messages still in the topic after group ${to.group}'s committed offset are parsed as ${to.format}`);
    const { added, removed, retyped, reordered } = f.fields;
    if (retyped.length) cautions.push(`message field${retyped.length > 1 ? 's' : ''} ${retyped.join(', ')} ${retyped.length > 1 ? 'are' : 'is'} parsed as another type: messages whose value does not parse are handled by on_error (stall, skip or errors table)`);
    if (!named && (added.length || removed.length || reordered)) {
      cautions.push(`format ${to.format} reads fields by position: with fields ${added.length ? `added (${added.join(', ')})` : ''}${removed.length ? ` removed (${removed.join(', ')})` : ''}${reordered ? ' reordered' : ''}, messages still in the topic in the old shape are misparsed or fail to parse`);
    }
  }
  for (const name of f.settings) if (!PACE_SETTINGS.has(name)) cautions.push(settingWords(name, from, to));
  if (cautions.length) return { risk: 'caution', reason: `recreate queue ${to.name}: ${cautions.join('; ')}` };
  const kept = producer ? '' : ` with the same consumer group ${to.group}: committed offsets carry over, nothing is skipped`;
  const added = f.fields.added.length && !producer ? `; new field${f.fields.added.length > 1 ? 's' : ''} ${f.fields.added.join(', ')} read by name (messages without ${f.fields.added.length > 1 ? 'them' : 'it'} give the column default)` : '';
  const pace = f.settings.length ? `; ${f.settings.join(', ')} change${f.settings.length === 1 ? 's' : ''} only the pace of consumption` : '';
  return { risk: 'safe', reason: `recreate queue ${to.name}${kept}${added}${pace}` };
}

/**
 * A flow's query changes (MODIFY QUERY while it runs, or a restart with a new
 * query): safe only when it writes the same columns computed the same way over
 * the same rows, plus new columns.
 */
export function flowChangeRisk(name: string, from: SelectParts | undefined, to: SelectParts | undefined, how: 'swap' | 'restart'): Assessment {
  const head = how === 'swap' ? `new query for flow ${name} (MODIFY QUERY swaps it atomically; rows of the block being read keep the old query)` : `restart the flow ${name}`;
  if (from && to && JSON.stringify(from) === JSON.stringify(to)) return { risk: 'safe', reason: head };
  const compared = from && to ? queryChanges(from, to) : undefined;
  if (!compared) return { risk: 'caution', reason: `${head}: its query changes in a way chpipe cannot break down, so rows written from now on may differ from stored ones` };
  const { renamed, added } = compared;
  const changes = [...compared.changes, ...(compared.dropped.length ? [`it no longer writes ${compared.dropped.join(', ')}`] : [])];
  if (changes.length) return { risk: 'caution', reason: `${head}: ${changes.join('; ')}` };
  const parts = [
    ...(renamed.length ? [`it writes ${renamed.join(', ')} (the same values under the new name)`] : []),
    ...(added.length ? [`it writes ${added.join(', ')} too from now on (rows already stored keep the column default)`] : []),
  ];
  return { risk: 'safe', reason: `${head}${parts.length ? `: ${parts.join('; ')}` : ''}` };
}

/**
 * What changes between two queries, in words: `changes` alter the rows written from now on (caution), as do
 * `dropped` columns; `renamed` and `added` columns do not. A subquery in FROM on both sides (an aggregate's column layer) is
 * compared part by part: its filter, grouping and recomputed columns count; columns it adds or drops are
 * seen through the outer query, which must name them to use them. Undefined: a layer chpipe cannot read.
 */
function queryChanges(from: SelectParts, to: SelectParts): { changes: string[]; dropped: string[]; renamed: string[]; added: string[] } | undefined {
  const changes: string[] = [];
  if (from.from !== to.from) {
    const [a, b] = [from.fromQuery, to.fromQuery];
    if (a && b) {
      const inner = queryChanges(a, b);
      if (!inner) return undefined;
      changes.push(...inner.changes);
    } else changes.push('it reads another source');
  }
  if ((from.arrayJoin ?? '') !== (to.arrayJoin ?? '')) changes.push(`its ARRAY JOIN changes (${from.arrayJoin ?? 'none'} → ${to.arrayJoin ?? 'none'}): each message gives other rows from now on; stored rows are unchanged`);
  if ((from.where ?? '') !== (to.where ?? '')) changes.push(`its filter changes (${from.where ?? 'none'} → ${to.where ?? 'none'}): rows are kept by the new filter from now on; stored rows are unchanged`);
  if ((from.groupBy ?? '') !== (to.groupBy ?? '')) changes.push('its grouping changes');
  const before = new Map(from.items.map((i) => [i.name, i.canonical ?? i.expr]));
  const after = new Map(to.items.map((i) => [i.name, i.expr]));
  const recomputed = to.items.filter((i) => before.has(i.name) && before.get(i.name) !== (i.canonical ?? i.expr)).map((i) => i.name);
  // A column written under a new name from the same expression is a rename, not a drop and an add.
  const gone = from.items.filter((i) => !after.has(i.name));
  const renamed = to.items.filter((i) => !before.has(i.name) && gone.some((g) => g.expr === i.expr)).map((i) => `${gone.find((g) => g.expr === i.expr)?.name} as ${i.name}`);
  const dropped = gone.filter((g) => !to.items.some((i) => !before.has(i.name) && i.expr === g.expr)).map((i) => i.name);
  const added = to.items.filter((i) => !before.has(i.name) && !gone.some((g) => g.expr === i.expr)).map((i) => i.name);
  if (recomputed.length) changes.push(`${recomputed.join(', ')} ${recomputed.length > 1 ? 'are' : 'is'} computed differently from now on; stored rows keep their values`);
  return { changes, dropped, renamed, added };
}

const INTEGER = /^(U?)Int(8|16|32|64|128|256)$/;

/**
 * Does every value of type `from` convert to `to` unchanged? Only widenings
 * chpipe can be sure of; anything else may wrap, truncate or round (ClickHouse
 * converts without failing).
 */
export function isWidening(from: string, to: string): boolean {
  if (from === to) return true;
  const inner = (t: string, wrapper: string) => (t.startsWith(`${wrapper}(`) && t.endsWith(')') ? t.slice(wrapper.length + 1, -1) : undefined);
  const toNullable = inner(to, 'Nullable');
  if (toNullable !== undefined && !from.startsWith('Nullable(')) return isWidening(from, toNullable);
  const fromLow = inner(from, 'LowCardinality');
  const toLow = inner(to, 'LowCardinality');
  if (fromLow !== undefined || toLow !== undefined) return isWidening(fromLow ?? from, toLow ?? to);
  const a = INTEGER.exec(from);
  const b = INTEGER.exec(to);
  if (a && b) {
    const [fromBits, toBits] = [Number(a[2]), Number(b[2])];
    const fromSigned = a[1] === '';
    const toSigned = b[1] === '';
    return fromSigned === toSigned ? toBits >= fromBits : !fromSigned && toSigned && toBits > fromBits;
  }
  if (from === 'Float32' && to === 'Float64') return true;
  if (from === 'DateTime' && /^DateTime64\(\d+\)$/.test(to)) return true;
  if (from === 'Date' && to === 'Date32') return true;
  return false;
}
