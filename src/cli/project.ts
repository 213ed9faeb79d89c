/** Reading a project from disk: chpipe.yaml and every *.yaml / *.yml under its schemas folder. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { diagnostic, type Diagnostic } from '../spec/diagnostic.js';
import { parseProject, type InputFile, type ParseResult } from '../spec/parse.js';

export interface LoadedProject extends ParseResult {
  /** Folder holding chpipe.yaml. */
  readonly root: string;
}

function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

function listYaml(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listYaml(full));
    else if (/\.ya?ml$/i.test(entry.name)) out.push(full);
  }
  return out;
}

export function loadProject(configPath: string, env: Readonly<Record<string, string | undefined>> = process.env): LoadedProject {
  const config = resolve(configPath);
  const root = dirname(config);
  if (!existsSync(config)) {
    const d: Diagnostic = diagnostic({ file: display(config), line: 1, col: 1 }, 'no-project', `no project file ${display(config)}`, { hint: 'run `chpipe init` to create a project, or pass -c FILE' });
    return { root, diagnostics: [d] };
  }
  const projectFile: InputFile = { path: display(config), text: readFileSync(config, 'utf8') };
  // Where the schemas live is read before the full parse, so the files can be listed.
  let schemasDir = 'schemas/';
  try {
    const raw = parseDocument(projectFile.text).toJS() as { schemas?: unknown } | null;
    if (raw && typeof raw.schemas === 'string') schemasDir = raw.schemas;
  } catch {
    // the full parse reports it
  }
  const dir = resolve(root, schemasDir);
  const files: InputFile[] = [];
  const diagnostics: Diagnostic[] = [];
  if (existsSync(dir) && statSync(dir).isDirectory()) {
    for (const f of listYaml(dir)) files.push({ path: display(f), text: readFileSync(f, 'utf8') });
  } else {
    diagnostics.push(diagnostic({ file: projectFile.path, line: 1, col: 1 }, 'no-schemas', `schemas folder ${display(dir)} does not exist`, { hint: 'create it, or set `schemas:` in chpipe.yaml' }));
  }
  const parsed = parseProject(projectFile, files, env);
  return { root, project: parsed.project, diagnostics: [...diagnostics, ...parsed.diagnostics] };
}
