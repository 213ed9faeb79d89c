import { Scratch } from '../../check/scratch.js';
import { targetStatus, unhealthyQueues } from '../../migrate/status.js';
import { renderStatus, statusJson } from '../../report/status.js';
import { makeIo, projectMemo, type GlobalOptions } from '../context.js';
import { failWith, openProjectTarget, parseLockTimeout, readTargetProject } from '../target.js';

export interface StatusOptions {
  readonly detailedExitcode?: boolean;
  readonly lockTimeout?: string;
  /** --producers: sample each ingest topic and report producer drift. */
  readonly producers?: boolean;
}

/** Applied, pending and failed migrations of a target, its drift from them (in cluster mode also per host), and its Kafka tables' consumers and lag. Exit 1 on an edited or missing applied file, or (cluster mode) a cluster the target lacks or a layout its hosts' macros break; 2 (with --detailed-exitcode) when anything is pending, failed or drifted. */
export default async function status(g: GlobalOptions, options: StatusOptions): Promise<number> {
  const io = await makeIo(g);
  const p = readTargetProject(g, io, 'read');
  if (Array.isArray(p)) return failWith(io, p);
  const connection = await openProjectTarget(g, io, p, 'status', parseLockTimeout(options.lockTimeout));
  try {
    const cluster = p.project.cluster;
    // Cluster mode: the scratch engine replays ON CLUSTER migrations as one node (check/scratch.ts).
    const scratch = await Scratch.open(await projectMemo(g, p.root), cluster !== undefined ? { cluster } : {});
    const s = await targetStatus({
      driver: connection.driver,
      scratch,
      placement: p.placement,
      files: p.dir.files,
      dirDisplay: p.display,
      env: process.env,
      withConsumers: true,
      ...(options.producers ? { producers: (await import('../../infer/producers.js')).PRODUCER_SAMPLE } : {}),
      ...(p.project.kafka.namedCollection ? { namedCollection: p.project.kafka.namedCollection } : {}),
      // Cluster mode: every host read over this connection (clusterAllReplicas), drift per host, the layout against the hosts' macros.
      ...(cluster !== undefined ? { cluster } : {}),
    });
    const shown = { ...s, target: connection.description };
    if (io.json) io.out(JSON.stringify(statusJson(shown), null, 2));
    else io.out(renderStatus(shown, io.paint));
    if (cluster !== undefined) {
      const { targetBudgetWarnings } = await import('../../cluster/budget.js');
      for (const w of await targetBudgetWarnings(connection.driver, p.project, cluster, scratch.oracle())) io.err(`warning[consumer-budget]: ${w}`);
    }
    if (s.problems.length) return 1;
    // Consumers whose brokers could not be asked need attention as much as a pending migration does.
    const open = s.drift.length > 0 || (s.hosts ?? []).some((h) => h.drift.length > 0) || s.migrations.some((m) => m.state !== 'applied') || unhealthyQueues(s.consumers).length > 0;
    return options.detailedExitcode && open ? 2 : 0;
  } finally {
    await connection.release();
  }
}
