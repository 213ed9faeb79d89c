/**
 * A content-addressed memo of what the engine said, kept in `.chpipe/cache/`:
 * the compiler's questions (types, DESCRIBE answers, catalogs) and the states
 * read back after running a set of statements. Every key includes the chpipe
 * and engine (chdb) versions, so an answer is reused only where the same
 * engine would give it again; `--no-cache` or CHPIPE_NO_CACHE=1 turns it off.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { makeModel, type Model } from '../model/model.js';

const require = createRequire(import.meta.url);
const FORMAT = 1;
/** State files kept; older ones are removed. */
const KEEP_STATES = 32;

export function engineSalt(): string {
  const chpipe = (require('../../package.json') as { version: string }).version;
  const chdb = (require('chdb/package.json') as { version: string }).version;
  return `chpipe@${chpipe}+chdb@${chdb}+cache@${FORMAT}`;
}

export function digest(...parts: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('hex').slice(0, 32);
}

export class Memo {
  private facts = new Map<string, unknown>();
  private factsChanged = false;
  private readonly factsFile: string | undefined;

  private constructor(
    private readonly dir: string | undefined,
    private readonly salt: string,
  ) {
    this.factsFile = dir ? join(dir, `facts-${digest(salt)}.json`) : undefined;
    if (this.factsFile && existsSync(this.factsFile)) {
      try {
        this.facts = new Map(Object.entries(JSON.parse(readFileSync(this.factsFile, 'utf8')) as Record<string, unknown>));
      } catch {
        this.facts = new Map(); // a damaged cache is rebuilt
      }
    }
  }

  /** A memo stored in `dir`, or one that only lives in memory (`dir` undefined). */
  static open(dir: string | undefined): Memo {
    return new Memo(dir, engineSalt());
  }

  static none(): Memo {
    return new Memo(undefined, 'none');
  }

  fact<T>(key: string, compute: () => T): T {
    if (this.facts.has(key)) return this.facts.get(key) as T;
    const value = compute();
    this.facts.set(key, value);
    this.factsChanged = true;
    return value;
  }

  stateKey(kind: string, ...parts: readonly string[]): string {
    return `${kind}-${digest(this.salt, kind, ...parts)}`;
  }

  getState(key: string): Model | undefined {
    if (!this.dir) return undefined;
    const file = join(this.dir, `${key}.json`);
    if (!existsSync(file)) return undefined;
    try {
      const m = JSON.parse(readFileSync(file, 'utf8')) as Model;
      return makeModel({ database: m.database, ...(m.cluster ? { cluster: m.cluster } : {}) }, m.objects);
    } catch {
      return undefined;
    }
  }

  putState(key: string, model: Model): void {
    if (!this.dir) return;
    this.write(join(this.dir, `${key}.json`), JSON.stringify(model));
    this.prune();
  }

  /** Write the facts learned in this run. */
  save(): void {
    if (!this.factsFile || !this.factsChanged) return;
    this.write(this.factsFile, JSON.stringify(Object.fromEntries(this.facts)));
    this.factsChanged = false;
  }

  private write(file: string, text: string): void {
    try {
      mkdirSync(this.dir as string, { recursive: true });
      const temp = `${file}.tmp-${process.pid}`;
      writeFileSync(temp, text);
      renameSync(temp, file);
    } catch {
      // a cache that cannot be written is only slower
    }
  }

  private prune(): void {
    try {
      const states = readdirSync(this.dir as string)
        .filter((f) => /^(declared|migrated)-[0-9a-f]+\.json$/.test(f))
        .map((f) => ({ f, t: statSync(join(this.dir as string, f)).mtimeMs }))
        .sort((a, b) => b.t - a.t);
      for (const { f } of states.slice(KEEP_STATES)) rmSync(join(this.dir as string, f), { force: true });
    } catch {
      // best effort
    }
  }
}
