/** The history check on plain values: which problems exist, which stop a plan or a save, and what each says to do. */
import { describe, expect, it } from 'vitest';
import { inVersionOrder, parseFileName, parseSum, renderSum, type MigrationFile } from '../../src/migrate/files.js';
import { checkHistory, reviewHistory } from '../../src/migrate/history.js';

function file(name: string, text = `-- ${name}\nSELECT 1;\n`): MigrationFile {
  const parsed = parseFileName(name);
  if (!parsed) throw new Error(`bad test file name ${name}`);
  return { ...parsed, file: name, text };
}

const A1 = file('0001_initial.sql');
const A2 = file('0002_country.sql');
const B2 = file('0002_region.sql');
const A3 = file('0003_ttl.sql');

describe('checkHistory', () => {
  it('a straight history that chpipe.sum vouches for has no problem; a gap in versions is fine', () => {
    expect(checkHistory({ files: [A1, A2, A3], sum: renderSum([A1, A2, A3]) })).toEqual([]);
    expect(checkHistory({ files: [A1, A3], sum: renderSum([A1, A3]) })).toEqual([]);
    expect(checkHistory({ files: [] })).toEqual([]);
  });

  it('two files with one version stop even a plan; the sum says which one came from the other branch', () => {
    // The merged sum took the main branch's side: it records 0002_country, not 0002_region.
    const review = reviewHistory({ files: [A1, A2, B2], sum: renderSum([A1, A2]) }, 'migrations', 'read');
    expect(review.warnings).toEqual([]);
    expect(review.errors).toHaveLength(1);
    const [d] = review.errors;
    expect(d).toMatchObject({ file: 'migrations/0002_region.sql', line: 1, code: 'duplicate-version' });
    expect(d?.message).toBe('0002_country.sql and 0002_region.sql have the same version 0002 (two branches each saved a migration)');
    expect(d?.hint).toBe(
      'delete 0002_region.sql, the one chpipe.sum does not record (its YAML change stays in your schemas), then run `chpipe plan --save NAME` to write that change again on top, as version 0003',
    );
  });

  it('when the sum records both (or cannot say), the fix is: keep the first merged, delete the other, rehash, save again', () => {
    const [both] = reviewHistory({ files: [A1, A2, B2, A3], sum: renderSum([A1, A2, B2, A3]) }, 'migrations', 'read').errors;
    expect(both?.message).toContain('0002_country.sql and 0002_region.sql have the same version 0002');
    expect(both?.hint).toBe(
      'keep the file that was merged first, delete the other (its YAML change stays in your schemas), run `chpipe migrate hash`, then run `chpipe plan --save NAME` to write that change again on top, as version 0004',
    );
    // Versions are numbers: 00002 is 0002.
    const padded = file('00002_region.sql');
    expect(checkHistory({ files: [A1, A2, padded], sum: renderSum([A1, A2, padded]) })).toMatchObject([{ kind: 'duplicate-version', files: ['00002_region.sql', '0002_country.sql'] }]);
  });

  it('a file listed in chpipe.sum but missing stops a plan, at its line in chpipe.sum', () => {
    const review = reviewHistory({ files: [A2, A3], sum: renderSum([A1, A2, A3]) }, 'migrations', 'read');
    expect(review.errors).toEqual([
      expect.objectContaining({
        file: 'migrations/chpipe.sum',
        line: 2,
        code: 'missing-migration',
        message: '0001_initial.sql is listed in chpipe.sum but missing from migrations/',
        hint: 'restore migrations/0001_initial.sql from version control, or, if it was never applied anywhere, remove its line with `chpipe migrate hash`',
      }),
    ]);
  });

  it('merge-conflict markers in chpipe.sum are reported as such, at the first marker, without noise about each file', () => {
    const ours = renderSum([A1, A2]).split('\n');
    const theirs = renderSum([A1, B2]).split('\n');
    const conflicted = ['<<<<<<< HEAD', ours[0], ours[1], ours[2], '=======', theirs[0], theirs[1], theirs[2], '>>>>>>> feature', ''].join('\n');
    expect(parseSum(conflicted).conflictLine).toBe(1);
    const review = reviewHistory({ files: [A1, A2, B2], sum: conflicted }, 'migrations', 'read');
    expect(review.errors.map((d) => d.code)).toEqual(['duplicate-version', 'sum-conflict']);
    expect(review.errors[1]).toMatchObject({ file: 'migrations/chpipe.sum', line: 1, message: 'chpipe.sum still has merge-conflict markers' });
    expect(review.errors[1]?.hint).toContain('then run `chpipe migrate hash` to rewrite chpipe.sum');
  });

  it('a sum edited by hand stops a plan; the fix names migrate hash', () => {
    const edited = renderSum([A1, A2]).replace('0002_country.sql', '0002_countries.sql');
    const review = reviewHistory({ files: [A1, A2], sum: edited }, 'migrations', 'read');
    expect(review.errors).toEqual([expect.objectContaining({ code: 'sum-corrupt', message: 'chpipe.sum was edited by hand (its first line is not the hash of the lines below it)' })]);
    expect(review.errors[0]?.hint).toBe('restore it from version control, or run `chpipe migrate hash` to rewrite it from the files on disk');
  });

  it('files the sum does not vouch for (unrecorded, edited, no sum) are warnings for a plan and errors for a save', () => {
    const edited = { ...A2, text: A2.text + '-- by hand\n' };
    const history = { files: [A1, edited, A3], sum: renderSum([A1, A2]) };
    const read = reviewHistory(history, 'migrations', 'read');
    expect(read.errors).toEqual([]);
    expect(read.warnings.map((d) => [d.code, d.file])).toEqual([
      ['edited-migration', 'migrations/0002_country.sql'],
      ['unrecorded-migration', 'migrations/0003_ttl.sql'],
    ]);
    expect(read.warnings[0]?.message).toBe('0002_country.sql was edited after it was generated (chpipe.sum records another hash)');
    expect(read.warnings[1]?.hint).toBe('if it belongs in the history, record it with `chpipe migrate hash`; otherwise delete it');
    const write = reviewHistory(history, 'migrations', 'write');
    expect(write.errors.map((d) => d.code)).toEqual(['edited-migration', 'unrecorded-migration']);
    expect(write.warnings).toEqual([]);

    const noSum = reviewHistory({ files: [A1] }, 'db/migrations', 'write');
    expect(noSum.errors).toEqual([expect.objectContaining({ code: 'sum-missing', message: 'db/migrations/chpipe.sum is missing, so nothing vouches for the 1 migration file' })]);
    expect(reviewHistory({ files: [A1] }, 'db/migrations', 'read').errors).toEqual([]);
  });
});

describe('inVersionOrder', () => {
  it('orders by version as a number, then by name', () => {
    const names = ['10000_e.sql', '9999_d.sql', '0010_c.sql', '0009_b.sql', '0002_z.sql', '0002_a.sql'];
    expect(inVersionOrder(names.map((n) => file(n))).map((f) => f.file)).toEqual(['0002_a.sql', '0002_z.sql', '0009_b.sql', '0010_c.sql', '9999_d.sql', '10000_e.sql']);
  });
});
