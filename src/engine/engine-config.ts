/**
 * The server configuration chpipe gives an embedded engine on a data folder
 * (`.chpipe/` or `serve --data-dir`), written into the folder at every start:
 * `chpipe serve`, `chpipe dev` and the one-shot commands (`apply`, `status`, …
 * without `--url`) start their engine with it. The XML is built in
 * `src/sql/dev.ts`. Static membership is decided here, once per start (the
 * engine cannot reload it), from the Kafka tables the folder holds (read from
 * its metadata files, before the engine starts) and the project's declared pipelines.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { kafkaTablesOnDisk } from '../inspect/on-disk.js';
import { objectName } from '../model/model.js';
import { devEngineConfigXml, engineUsersXml, kafkaTableConsumers, mergeConsumers, staticMembershipTopics, type EngineAccess, type KafkaConsumerFacts } from '../sql/dev.js';
import { consumesKafka, type ProjectSpec } from '../spec/types.js';
import { userFilesDir } from './user-files.js';

export const ENGINE_CONFIG_FILE = 'engine-config.xml';
/** The users file (the `default` user's grants; dev's freshness), beside the engine config. */
export const ENGINE_USERS_FILE = 'engine-users.xml';

export interface EngineConfigInput {
  /** Kafka tables the engine gets consumer threads for (at least; the tables in the folder count too). */
  readonly kafkaTables: number;
  /**
   * The Kafka tables the project declares (`declaredConsumers`): with the Kafka tables already in the
   * data folder (a declared queue replaces its namesake), they decide which topics get static membership:
   * topics read only by single-consumer tables alone in their group. Absent or empty: the folder's tables alone.
   */
  readonly consumers?: readonly KafkaConsumerFacts[];
  /** `chpipe dev`: the engine's background streaming flushes every `DEV_STREAM_FLUSH_INTERVAL_MS`. */
  readonly dev?: boolean;
  /** What the engine may reach beyond Kafka and its user files (`serve --allow-remote-sources`, cluster mode). */
  readonly access?: EngineAccess;
}

/** What an engine was started with: its config file, and the topics its consumers hold with static membership. */
export interface EngineConfig {
  readonly file: string;
  readonly instanceId: string;
  readonly staticTopics: readonly string[];
}

/**
 * The `group.instance.id` of the engine on a data folder: unique per engine (host and data folder, so two
 * engines never fence each other in a group) and the same at every start, so an engine started again
 * after kill -9 takes its old member's place at once.
 */
export function engineInstanceId(dataDir: string): string {
  return `chpipe-${createHash('sha256').update(`${hostname()}\0${resolve(dataDir)}`).digest('hex').slice(0, 16)}`;
}

/** The consumer facts of a project's pipelines that read Kafka (publish pipelines only produce). */
export function declaredConsumers(spec: ProjectSpec): KafkaConsumerFacts[] {
  return spec.pipelines.flatMap((p) =>
    !consumesKafka(p) ? [] : [{ topics: p.source.topics, group: p.source.group, consumers: p.source.consumers ?? Number(p.source.settings.kafka_num_consumers ?? 1), table: `${spec.database}.${objectName(p.name, 'queue')}` }],
  );
}

/** Write the local engine's configuration (see src/sql/dev.ts) into the data folder, as it is at every start. */
export function writeEngineConfig(dataDir: string, input: EngineConfigInput): EngineConfig {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, ENGINE_CONFIG_FILE);
  const instanceId = engineInstanceId(dataDir);
  const present = kafkaTablesOnDisk(dataDir).map((t) => kafkaTableConsumers(t.database, t.table));
  const consumers = mergeConsumers(present, input.consumers ?? []);
  const staticTopics = staticMembershipTopics(consumers);
  const usersConfigFile = join(resolve(dataDir), ENGINE_USERS_FILE);
  writeFileSync(usersConfigFile, engineUsersXml({ devFreshness: input.dev === true, access: input.access ?? {} }));
  // The engine process makes the folder as it starts (and runs in it).
  const userFilesPath = userFilesDir(dataDir);
  writeFileSync(
    file,
    devEngineConfigXml({
      kafkaTables: Math.max(input.kafkaTables, consumers.length),
      ...(staticTopics.length ? { staticMembership: { instanceId, topics: staticTopics } } : {}),
      usersConfigFile,
      userFilesPath: `${userFilesPath}/`,
    }),
  );
  return { file, instanceId, staticTopics };
}
