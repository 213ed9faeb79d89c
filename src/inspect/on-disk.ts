/**
 * The Kafka tables an embedded engine's data folder holds, read from the
 * `.sql` files its engine keeps in `metadata/` (one per table, as
 * `ATTACH TABLE _ UUID '…' (…) ENGINE = Kafka SETTINGS …`), without starting
 * it: what decides its engine config (static membership) comes before the
 * engine starts, and the engine reads that config only once.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KafkaTable } from '../model/model.js';
import { readCreateTable } from '../sql/create-table.js';
import { kafkaTableFromEngine } from './inspect.js';

export interface KafkaTableOnDisk {
  readonly database: string;
  readonly table: KafkaTable;
}

/** Every Kafka table in the data folder's databases (none when it has no metadata yet); unreadable files are skipped. */
export function kafkaTablesOnDisk(dataDir: string): KafkaTableOnDisk[] {
  const metadata = join(dataDir, 'metadata');
  if (!existsSync(metadata)) return [];
  const out: KafkaTableOnDisk[] = [];
  for (const entry of readdirSync(metadata)) {
    if (!entry.endsWith('.sql')) continue;
    const dbFolder = join(metadata, entry.slice(0, -'.sql'.length));
    if (!existsSync(dbFolder)) continue;
    const database = unescapeFileName(entry.slice(0, -'.sql'.length));
    for (const file of readdirSync(dbFolder)) {
      if (!file.endsWith('.sql')) continue;
      let text: string;
      try {
        text = readFileSync(join(dbFolder, file), 'utf8');
      } catch {
        continue;
      }
      const created = readCreateTable(text);
      if (created?.engine !== 'Kafka' || created.engineFull === undefined) continue;
      out.push({ database, table: kafkaTableFromEngine(unescapeFileName(file.slice(0, -'.sql'.length)), created.engineFull) });
    }
  }
  return out;
}

/** ClickHouse names files after objects with every byte but [A-Za-z0-9_] written as %XX. */
function unescapeFileName(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}
