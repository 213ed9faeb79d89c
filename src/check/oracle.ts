import type { Answer, DescribedColumn, Oracle } from '../compile/oracle.js';
import { EngineError } from '../engine/driver.js';
import type { EmbeddedDriver } from '../engine/embedded.js';
import { stringLiteral } from '../sql/quote.js';
import type { Memo } from './memo.js';

/** The compiler's questions, answered by the embedded engine (synchronously, in process) and cached. */
export class EngineOracle implements Oracle {
  private readonly types = new Map<string, Answer<string>>();
  private readonly described = new Map<string, Answer<readonly DescribedColumn[]>>();
  private formatSets: { input: ReadonlySet<string>; output: ReadonlySet<string> } | undefined;
  private aggregates: ReadonlySet<string> | undefined;
  private mergeTreeSettings: ReadonlySet<string> | undefined;

  constructor(private readonly driver: EmbeddedDriver) {}

  normalizeType(type: string): Answer<string> {
    let answer = this.types.get(type);
    if (!answer) {
      answer = this.ask(() => {
        const rows = this.driver.querySync<{ t: string }>(`SELECT toTypeName(defaultValueOfTypeName(${stringLiteral(type)})) AS t`);
        return rows[0]?.t ?? type;
      });
      this.types.set(type, answer);
    }
    return answer;
  }

  describe(select: string): Answer<readonly DescribedColumn[]> {
    let answer = this.described.get(select);
    if (!answer) {
      answer = this.ask(() => this.driver.querySync<DescribedColumn>(`DESCRIBE (${select})`).map((c) => ({ name: c.name, type: c.type })));
      this.described.set(select, answer);
    }
    return answer;
  }

  formats(): { input: ReadonlySet<string>; output: ReadonlySet<string> } {
    if (!this.formatSets) {
      const rows = this.driver.querySync<{ name: string; is_input: number; is_output: number }>('SELECT name, is_input, is_output FROM system.formats');
      this.formatSets = {
        input: new Set(rows.filter((r) => r.is_input).map((r) => r.name)),
        output: new Set(rows.filter((r) => r.is_output).map((r) => r.name)),
      };
    }
    return this.formatSets;
  }

  aggregateFunctions(): ReadonlySet<string> {
    if (!this.aggregates) {
      const rows = this.driver.querySync<{ name: string }>(
        "SELECT name FROM system.functions WHERE is_aggregate UNION ALL SELECT alias_to AS name FROM system.functions WHERE is_aggregate AND alias_to != ''",
      );
      this.aggregates = new Set(rows.map((r) => r.name));
    }
    return this.aggregates;
  }

  tableSettings(): ReadonlySet<string> {
    this.mergeTreeSettings ??= new Set(this.driver.querySync<{ name: string }>('SELECT name FROM system.merge_tree_settings').map((r) => r.name));
    return this.mergeTreeSettings;
  }

  private ask<T>(question: () => T): Answer<T> {
    try {
      return { ok: true, value: question() };
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      return { ok: false, problem: { message: e.engineMessage, ...(e.hint ? { hint: e.hint } : {}) } };
    }
  }
}

/**
 * The Oracle chpipe uses: answers come from the memo when this engine version
 * already gave them, and from the engine (opened only then) otherwise.
 */
export class MemoOracle implements Oracle {
  private engine: Oracle | undefined;
  private sets = new Map<string, ReadonlySet<string>>();

  constructor(
    private readonly memo: Memo,
    private readonly open: () => Oracle,
  ) {}

  private get inner(): Oracle {
    this.engine ??= this.open();
    return this.engine;
  }

  normalizeType(type: string): Answer<string> {
    return this.memo.fact(`type:${type}`, () => this.inner.normalizeType(type));
  }

  describe(select: string): Answer<readonly DescribedColumn[]> {
    return this.memo.fact(`describe:${select}`, () => this.inner.describe(select));
  }

  formats(): { input: ReadonlySet<string>; output: ReadonlySet<string> } {
    return { input: this.set('formats:input', () => this.inner.formats().input), output: this.set('formats:output', () => this.inner.formats().output) };
  }

  aggregateFunctions(): ReadonlySet<string> {
    return this.set('aggregate-functions', () => this.inner.aggregateFunctions());
  }

  tableSettings(): ReadonlySet<string> {
    return this.set('merge-tree-settings', () => this.inner.tableSettings());
  }

  private set(key: string, compute: () => ReadonlySet<string>): ReadonlySet<string> {
    let value = this.sets.get(key);
    if (!value) {
      value = new Set(this.memo.fact(key, () => [...compute()].sort()));
      this.sets.set(key, value);
    }
    return value;
  }
}
