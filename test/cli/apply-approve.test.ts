/**
 * `chpipe apply` on a terminal (util-linux `script` gives it a
 * pseudo-terminal) lists the destructive steps it is about to run and asks:
 * anything but `yes` runs nothing; `yes` runs them; `--yes` does not ask; with
 * stdin not a terminal (CI, a pipe) it goes ahead as before.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, chpipe, tempProject } from '../helpers/cli.js';

const PROJECT = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: 127.0.0.1:9\n';
const clicks = (columns: string) => `name: clicks\nsource:\n  topic: clicks\ncolumns:\n  id: Int64\n${columns}table:\n  order_by: [id]\n`;

/** A project whose pending migration drops a column (destructive), the first one applied. */
function projectWithDrop(): string {
  const dir = tempProject({ 'schemas/clicks.yaml': clicks('  page: String\n') }, PROJECT);
  expect(chpipe(['plan', '--save', 'init'], dir).code).toBe(0);
  expect(chpipe(['apply'], dir).code).toBe(0);
  writeFileSync(join(dir, 'schemas/clicks.yaml'), clicks(''));
  expect(chpipe(['plan', '--save', 'drop_page', '--allow-destructive'], dir).code).toBe(0);
  return dir;
}

/** `chpipe ARGS` on a pseudo-terminal, `input` typed in; everything it showed. */
function onTerminal(dir: string, args: string, input: string): { code: number | null; shown: string } {
  const r = spawnSync('script', ['-qec', `${process.execPath} ${BIN} ${args}`, '/dev/null'], { cwd: dir, input, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 90_000 });
  return { code: r.status, shown: r.stdout };
}

const columns = (dir: string) => chpipe(['query', "SELECT name FROM system.columns WHERE database = 'analytics' AND table = 'clicks' ORDER BY position", '--format', 'TSV'], dir).stdout;

describe('chpipe apply on a terminal', () => {
  it('lists the destructive steps and asks; anything but yes runs nothing, yes runs them', () => {
    const dir = projectWithDrop();
    const no = onTerminal(dir, 'apply', 'no\n');
    expect(no.shown).toContain('apply will run 1 destructive step:');
    expect(no.shown).toMatch(/- 0002_drop_page\.sql: alter analytics\.clicks: drop column page and its data/);
    expect(no.shown).toContain("Run them? Only 'yes' is accepted");
    expect(no.shown).toContain('apply cancelled: nothing was run');
    expect(no.code).toBe(1);
    expect(columns(dir)).toBe('id\npage\n');
    expect(JSON.parse(chpipe(['status', '--json'], dir).stdout).migrations.map((m: { state: string }) => m.state)).toEqual(['applied', 'pending']);

    const yes = onTerminal(dir, 'apply', 'yes\n');
    expect(yes.code, yes.shown).toBe(0);
    expect(yes.shown).toContain('applied 0002_drop_page.sql');
    expect(columns(dir)).toBe('id\n');
  }, 120_000);

  it('--yes does not ask, and neither does apply when stdin is not a terminal', () => {
    const dir = projectWithDrop();
    const approved = onTerminal(dir, 'apply --yes', '');
    expect(approved.code, approved.shown).toBe(0);
    expect(approved.shown).not.toContain('Run them?');
    const piped = projectWithDrop();
    const r = chpipe(['apply'], piped);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('Run them?');
    expect(columns(piped)).toBe('id\n');
  }, 120_000);
});
