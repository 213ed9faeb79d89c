/**
 * The project's lineage as a graph: topics → Kafka tables → (hub) → flows →
 * tables and states → finalizing views, publish flows → producer Kafka tables
 * → topics, and the errors streams. Pure, over the Model's typed fields only:
 * a flow's `from` and `to`, a Kafka table's `topics`, an object's `owner`.
 *
 * Nodes and edges come out in one stable order (pipelines by name, then
 * objects by stage and name), so the same Model always renders the same text.
 */
import { assertNever, type DbObject, type Model, type Role } from '../model/model.js';
import { readQualifiedName } from '../sql/parse.js';
import { parseSelect } from '../sql/query.js';

export type NodeKind = 'topic' | 'kafka' | 'null' | 'table' | 'state' | 'errors' | 'mv' | 'view';

/**
 * What a node's object is, against what it is compared with:
 * - `drift`: on the target, but not as its applied migrations built it;
 * - `missing`: built by the migrations, gone from the target;
 * - `extra`: on the target, not built by the migrations;
 * - `added` / `changed` / `removed`: what a plan (or pending migrations) does to it;
 * - `context`: unchanged, shown because a changed object reads or feeds it.
 */
export type NodeStatus = 'drift' | 'missing' | 'extra' | 'added' | 'changed' | 'removed' | 'context';

export interface GraphNode {
  /** Unique and stable: the object's name (topics: `topic:NAME`). */
  readonly key: string;
  readonly kind: NodeKind;
  /** The object's (or topic's) name, as written. */
  readonly name: string;
  /** A short second line: the engine, the format, "materialized view"… */
  readonly detail: string;
  /** The pipeline it belongs to (ownership marker); absent for topics and objects chpipe does not manage. */
  readonly pipeline?: string;
  /** An object in the database that chpipe does not manage (no ownership marker). */
  readonly unmanaged: boolean;
  readonly status?: NodeStatus;
  /** Why it has that status, in words (drift detail). */
  readonly note?: string;
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
}

export interface LineageGraph {
  readonly database: string;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
  /** Pipelines in name order, each with its node keys in graph order. */
  readonly pipelines: readonly { readonly name: string; readonly nodes: readonly string[] }[];
}

export interface Marks {
  /** Status per object name. */
  readonly status?: ReadonlyMap<string, NodeStatus>;
  /** A note per object name (shown as a tooltip, or listed). */
  readonly notes?: ReadonlyMap<string, string>;
  /**
   * Keep only the marked objects and their direct neighbours (shown as
   * `context`), with the topics they read or write: the graph of a change.
   */
  readonly onlyMarked?: boolean;
}

const STAGE: Record<NodeKind, number> = { topic: 0, kafka: 1, null: 2, mv: 3, table: 4, state: 4, errors: 4, view: 5 };

const topicKey = (name: string) => `topic:${name}`;

function kindOf(o: DbObject, role: Role | undefined): NodeKind {
  switch (o.kind) {
    case 'kafka':
      return 'kafka';
    case 'null':
      return 'null';
    case 'mv':
      return 'mv';
    case 'view':
      return 'view';
    case 'table':
      return role === 'state' ? 'state' : role === 'errors' ? 'errors' : 'table';
    case 'distributed': // cluster mode: the name users query over every node's local table
      return role === 'state' ? 'state' : role === 'errors' ? 'errors' : 'table';
    default:
      return assertNever(o);
  }
}

function detailOf(o: DbObject, producer: boolean): string {
  switch (o.kind) {
    case 'kafka':
      return `Kafka ${producer ? 'producer' : 'consumer'} · ${o.format || '?'}`;
    case 'null':
      return 'Null (fan-out)';
    case 'mv':
      return 'materialized view';
    case 'view':
      return o.owner?.role === 'view' ? 'view (final aggregates)' : 'view';
    case 'table':
      return o.owner?.role === 'errors' ? `errors stream · ${o.engine}` : o.owner?.role === 'state' ? `aggregate state · ${o.engine}` : o.engine;
    case 'distributed':
      return `Distributed over ${o.local} on cluster ${o.cluster}`;
    default:
      return assertNever(o);
  }
}

/**
 * The table a view reads: for a pipeline's finalizing view, its state table
 * (by ownership); for a view chpipe does not manage, the FROM of its SELECT
 * when it has the usual shape (the text read from the engine, split by the
 * same parser inspect uses).
 */
function viewSources(o: DbObject & { kind: 'view' }, model: Model, names: ReadonlySet<string>): string[] {
  if (o.owner) {
    const state = model.objects.find((x) => x.owner?.pipeline === o.owner?.pipeline && x.owner?.role === 'state');
    return state ? [state.name] : [];
  }
  const from = parseSelect(o.select)?.from;
  if (from === undefined) return [];
  const first = readQualifiedName(from, 0);
  if (!first || (first.database !== undefined && first.database !== model.database)) return [];
  return names.has(first.name) ? [first.name] : [];
}

/** The lineage of `model`, its nodes marked as `marks` says. */
export function lineage(model: Model, marks: Marks = {}): LineageGraph {
  const names = new Set(model.objects.map((o) => o.name));
  const producers = new Set(model.objects.flatMap((o) => (o.kind === 'mv' ? [o.to] : [])));
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  const edge = (from: string, to: string) => edges.push({ from, to });
  const topic = (name: string) => {
    if (!nodes.has(topicKey(name))) nodes.set(topicKey(name), { key: topicKey(name), kind: 'topic', name, detail: 'Kafka topic', unmanaged: false });
  };

  for (const o of model.objects) {
    const status = marks.status?.get(o.name);
    const note = marks.notes?.get(o.name);
    nodes.set(o.name, {
      key: o.name,
      kind: kindOf(o, o.owner?.role),
      name: o.name,
      detail: detailOf(o, o.kind === 'kafka' && producers.has(o.name)),
      ...(o.owner ? { pipeline: o.owner.pipeline } : {}),
      unmanaged: o.owner === undefined,
      ...(status ? { status } : {}),
      ...(note ? { note } : {}),
    });
    switch (o.kind) {
      case 'kafka':
        for (const t of o.topics) {
          topic(t);
          if (producers.has(o.name)) edge(o.name, topicKey(t));
          else edge(topicKey(t), o.name);
        }
        break;
      case 'mv':
        for (const f of o.from) if (names.has(f)) edge(f, o.name);
        if (names.has(o.to)) edge(o.name, o.to);
        break;
      case 'view':
        for (const f of viewSources(o, model, names)) edge(f, o.name);
        break;
      case 'null':
      case 'table':
        break;
      case 'distributed':
        edge(o.local, o.name);
        break;
      default:
        assertNever(o);
    }
  }

  let keep: Set<string> | undefined;
  if (marks.onlyMarked) {
    const marked = new Set([...(marks.status?.keys() ?? [])].filter((k) => nodes.has(k)));
    keep = new Set(marked);
    for (const e of edges) {
      if (marked.has(e.from)) keep.add(e.to);
      if (marked.has(e.to)) keep.add(e.from);
    }
    // A kept Kafka table brings its topics.
    for (const e of edges) if ((keep.has(e.from) && e.to.startsWith('topic:')) || (keep.has(e.to) && e.from.startsWith('topic:'))) keep.add(e.from.startsWith('topic:') ? e.from : e.to);
    for (const k of keep) {
      const n = nodes.get(k);
      if (n && !n.status && n.kind !== 'topic') nodes.set(k, { ...n, status: 'context' });
    }
  }

  const order = (a: GraphNode, b: GraphNode) => STAGE[a.kind] - STAGE[b.kind] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const shown = [...nodes.values()].filter((n) => !keep || keep.has(n.key)).sort(order);
  const shownKeys = new Set(shown.map((n) => n.key));
  const rank = new Map(shown.map((n, i) => [n.key, i]));
  const uniqueEdges = [...new Map(edges.filter((e) => shownKeys.has(e.from) && shownKeys.has(e.to)).map((e) => [`${e.from}\u0000${e.to}`, e])).values()];
  uniqueEdges.sort((a, b) => (rank.get(a.from) as number) - (rank.get(b.from) as number) || (rank.get(a.to) as number) - (rank.get(b.to) as number));
  const pipelineNames = [...new Set(shown.flatMap((n) => (n.pipeline !== undefined ? [n.pipeline] : [])))].sort();
  return {
    database: model.database,
    nodes: shown,
    edges: uniqueEdges,
    pipelines: pipelineNames.map((name) => ({ name, nodes: shown.filter((n) => n.pipeline === name).map((n) => n.key) })),
  };
}
