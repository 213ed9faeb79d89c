/**
 * The invalid-input corpus: every case under test/corpus/ is a project that
 * `chpipe validate` must refuse with exit code 1, without a stack trace, and
 * with exactly the diagnostics its files announce in their header comments:
 *
 *   # error: LINE:COL message            (in this file)
 *   # error: PATH:LINE:COL message       (in another file of the case)
 *   # hint: text                          (belongs to the error above)
 *   # expected: text                      (belongs to the error above)
 *
 * A case is a single pipeline file (`NAME.yaml`, run as schemas/NAME.yaml
 * beside the default chpipe.yaml) or a folder laid out like a project
 * (`chpipe.yaml` optional, `schemas/...`). Messages and hints are matched as
 * substrings; locations exactly; and no diagnostic may appear that no header
 * announces.
 *
 * Each case runs the built CLI's entry (`main` of dist/cli/main.js, what
 * bin/chpipe.js runs) in this process with its output captured, so the
 * corpus costs one engine start, not one per case; one case is also run as
 * a process, and must give the same bytes and exit code.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chpipe, chpipeInProcess, ROOT, tempProject, PROJECT_YAML } from '../helpers/cli.js';

const CORPUS = join(ROOT, 'test/corpus');

interface Expected {
  file: string;
  line: number;
  col: number;
  message: string;
  hint?: string;
  expected?: string;
}

interface Case {
  name: string;
  files: Record<string, string>;
  projectYaml: string;
  errors: Expected[];
}

interface Reported {
  file: string;
  line: number;
  col: number;
  code: string;
  message: string;
  hint?: string;
  expected?: string;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = join(dir, entry);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

/** The `# error:` / `# hint:` / `# expected:` lines of one file, locations resolved against `path`. */
function announced(path: string, text: string): Expected[] {
  const out: Expected[] = [];
  for (const line of text.split('\n')) {
    const error = /^# error: (?:(\S+?):)?(\d+):(\d+) (.+)$/.exec(line);
    if (error) {
      out.push({ file: error[1] ?? path, line: Number(error[2]), col: Number(error[3]), message: error[4] as string });
      continue;
    }
    const extra = /^# (hint|expected): (.+)$/.exec(line);
    const last = out[out.length - 1];
    if (extra && last) last[extra[1] as 'hint' | 'expected'] = extra[2] as string;
  }
  return out;
}

function loadCase(entry: string): Case {
  const full = join(CORPUS, entry);
  const files: Record<string, string> = {};
  let projectYaml = PROJECT_YAML;
  const errors: Expected[] = [];
  if (statSync(full).isDirectory()) {
    for (const f of filesUnder(full)) {
      const path = relative(full, f);
      const text = readFileSync(f, 'utf8');
      if (path === 'chpipe.yaml') projectYaml = text;
      else files[path] = text;
      errors.push(...announced(path, text));
    }
  } else {
    const path = `schemas/${entry}`;
    files[path] = readFileSync(full, 'utf8');
    errors.push(...announced(path, files[path] as string));
  }
  return { name: entry.replace(/\.ya?ml$/, ''), files, projectYaml, errors };
}

/** `file:line:col: error[code]: message`, then `  expected: ...` and `  hint: ...` lines. */
function parseStderr(stderr: string): Reported[] {
  const out: Reported[] = [];
  for (const line of stderr.split('\n')) {
    const head = /^(.+?):(\d+):(\d+): error\[([a-z-]+)\]: (.*)$/.exec(line);
    if (head) {
      out.push({ file: head[1] as string, line: Number(head[2]), col: Number(head[3]), code: head[4] as string, message: head[5] as string });
      continue;
    }
    const extra = /^ {2}(hint|expected): (.*)$/.exec(line);
    const last = out[out.length - 1];
    if (extra && last) last[extra[1] as 'hint' | 'expected'] = extra[2] as string;
  }
  return out;
}

async function validate(dir: string): Promise<{ code: number; stdout: string; stderr: string; reported: Reported[] }> {
  const r = await chpipeInProcess(['validate'], dir);
  return { ...r, reported: parseStderr(r.stderr) };
}

const cases = readdirSync(CORPUS)
  .sort()
  .map(loadCase);

describe('the invalid-input corpus', () => {
  it('has at least 30 cases, each announcing at least one error', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    for (const c of cases) expect(c.errors.length, c.name).toBeGreaterThan(0);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const r = await validate(tempProject(c.files, c.projectYaml));
      expect(r.stderr).not.toMatch(/^ {4}at /m);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      for (const e of c.errors) {
        const at = r.reported.filter((d) => d.file === e.file && d.line === e.line && d.col === e.col);
        expect(at.length, `no diagnostic at ${e.file}:${e.line}:${e.col}\n${r.stderr}`).toBeGreaterThan(0);
        const match = at.find((d) => d.message.includes(e.message));
        expect(match, `no diagnostic at ${e.file}:${e.line}:${e.col} says "${e.message}"\n${r.stderr}`).toBeDefined();
        if (e.hint !== undefined) expect(match?.hint ?? '', r.stderr).toContain(e.hint);
        if (e.expected !== undefined) expect(match?.expected ?? '', r.stderr).toContain(e.expected);
      }
      expect(r.reported.length, `unannounced diagnostics:\n${r.stderr}`).toBe(c.errors.length);
      expect(r.stderr).toMatch(new RegExp(`^${c.errors.length} errors?$`, 'm'));
    });
  }

  it('a case run as a process reports exactly what the in-process run does (several-files)', async () => {
    const c = cases.find((x) => x.name === 'several-files') as Case;
    const dir = tempProject(c.files, c.projectYaml);
    const spawned = chpipe(['validate'], dir);
    const inProcess = await chpipeInProcess(['validate'], dir);
    expect(spawned.code).toBe(1);
    expect(inProcess).toEqual(spawned);
  });

  it('compile reports every problem validate does, but those only running the statements finds (several-files)', async () => {
    const c = cases.find((x) => x.name === 'several-files') as Case;
    const dir = tempProject(c.files, c.projectYaml);
    const validated = (await validate(dir)).reported;
    expect(validated.some((d) => d.code === 'engine-rejected')).toBe(true);
    const r = await chpipeInProcess(['compile'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const at = (d: { file: string; line: number; col: number }) => `${d.file}:${d.line}:${d.col}`;
    expect(parseStderr(r.stderr).map(at).sort()).toEqual(validated.filter((d) => d.code !== 'engine-rejected').map(at).sort());
  });

  it('huge file (> 4 MiB): refused before parsing, at line 1', async () => {
    const filler = `# ${'x'.repeat(78)}\n`.repeat(Math.ceil((4.5 * 1024 * 1024) / 81));
    const text = `name: huge\nsource: { topic: t }\ncolumns: { api_id: Int32 }\ntable: { order_by: [api_id] }\n${filler}`;
    const r = await validate(tempProject({ 'schemas/huge.yaml': text }));
    expect(r.stderr).not.toMatch(/^ {4}at /m);
    expect(r.code).toBe(1);
    expect(r.reported).toEqual([expect.objectContaining({ file: 'schemas/huge.yaml', line: 1, col: 1, code: 'file-too-large', message: 'file is 4.5 MiB; the limit is 4 MiB' })]);
    expect(r.reported[0]?.hint).toContain('split it');
  });
});
