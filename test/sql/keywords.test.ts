import { describe, expect, it } from 'vitest';
import { useScratchEngine } from '../helpers/engine.js';
import { KEYWORDS } from '../../src/sql/keywords.js';

describe('KEYWORDS', () => {
  const driver = useScratchEngine();

  it("agrees with the engine's system.keywords (every word of each keyword, lower-cased)", async () => {
    const rows = await driver().query<{ keyword: string }>('SELECT keyword FROM system.keywords');
    expect(rows.length).toBeGreaterThan(100);
    const words = new Set<string>();
    for (const { keyword } of rows) {
      for (const word of keyword.toLowerCase().split(/\s+/)) if (/^[a-z_][a-z0-9_]*$/.test(word)) words.add(word);
    }
    expect([...KEYWORDS].filter((w) => !words.has(w)).sort()).toEqual([]);
    expect([...words].filter((w) => !KEYWORDS.has(w)).sort()).toEqual([]);
  });

  it('holds only lower-case plain words', () => {
    for (const w of KEYWORDS) expect(w).toMatch(/^[a-z_][a-z0-9_]*$/);
  });
});
