/** Reading a project from disk: chpipe.yaml and every *.yaml / *.yml under its schemas folder. */
import { readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parseDocument } from 'yaml';
import { diagnostic, type Diagnostic } from '../spec/diagnostic.js';
import { MAX_FILE_BYTES, parseProject, type InputFile, type ParseResult } from '../spec/parse.js';
import { UserError } from './context.js';

export interface LoadedProject extends ParseResult {
  /** Folder holding chpipe.yaml. */
  readonly root: string;
}

/**
 * How a file is named in messages: relative to the current folder when it is
 * inside it, or inside the project the current folder belongs to (run from a
 * subfolder: `../schemas/a.yaml`), else absolute.
 */
function displayFor(root: string): (path: string) => string {
  const cwd = process.cwd();
  const inProject = cwd === root || cwd.startsWith(root + sep);
  return (path) => {
    const rel = relative(cwd, path);
    return rel && (!rel.startsWith('..') || inProject) ? rel : path;
  };
}

/** stat, or undefined when nothing is there; other file-system errors go to the CLI's boundary. */
function statOrNothing(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Read a YAML file, its size checked first: a file over the limit (a 2 GB log
 * saved as .yaml by mistake) is reported, never read.
 */
function readInput(path: string, shown: string, diagnostics: Diagnostic[]): InputFile | undefined {
  const stats = statSync(path);
  if (stats.isDirectory()) throw Object.assign(new Error(`EISDIR: ${path}`), { code: 'EISDIR', path, syscall: 'read' });
  if (!stats.isFile()) throw new UserError(`cannot read ${shown}: it is not a regular file`);
  if (stats.size > MAX_FILE_BYTES) {
    diagnostics.push(
      diagnostic({ file: shown, line: 1, col: 1 }, 'file-too-large', `file is ${(stats.size / 1048576).toFixed(1)} MiB; the limit is ${MAX_FILE_BYTES / 1048576} MiB`, {
        expected: 'one pipeline per file, a few KiB at most',
        hint: 'split it into one file per pipeline',
      }),
    );
    return undefined;
  }
  return { path: shown, text: readFileSync(path, 'utf8') };
}

/** Every *.yaml / *.yml under `dir`, at any depth, in name order; links are followed (a link to an ancestor once). */
function listYaml(dir: string, seen = new Set<string>()): string[] {
  const real = realpathSync(dir);
  if (seen.has(real)) return [];
  seen.add(real);
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    // A link is what it points to; a dangling one fails here, naming itself.
    const isDirectory = entry.isSymbolicLink() ? statSync(full).isDirectory() : entry.isDirectory();
    if (isDirectory) out.push(...listYaml(full, seen));
    else if (/\.ya?ml$/i.test(entry.name)) out.push(full);
  }
  return out;
}

export function loadProject(configPath: string, env: Readonly<Record<string, string | undefined>> = process.env): LoadedProject {
  const config = resolve(configPath);
  const root = dirname(config);
  const display = displayFor(root);
  if (!statOrNothing(config)) {
    const d: Diagnostic = diagnostic({ file: display(config), line: 1, col: 1 }, 'no-project', `no project file ${display(config)}`, {
      hint: 'run `chpipe init` to create a project, or pass -c FILE (without -c, chpipe.yaml is looked for here and in every folder above)',
    });
    return { root, diagnostics: [d] };
  }
  const diagnostics: Diagnostic[] = [];
  const projectFile = readInput(config, display(config), diagnostics);
  if (!projectFile) return { root, diagnostics };
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
  const schemas = statOrNothing(dir);
  if (schemas?.isDirectory()) {
    for (const f of listYaml(dir)) {
      const file = readInput(f, display(f), diagnostics);
      if (file) files.push(file);
    }
  } else {
    const problem = schemas ? 'is a file, not a folder' : 'does not exist';
    diagnostics.push(diagnostic({ file: projectFile.path, line: 1, col: 1 }, 'no-schemas', `schemas folder ${display(dir)} ${problem}`, { hint: 'create it, or set `schemas:` in chpipe.yaml' }));
  }
  const parsed = parseProject(projectFile, files, env);
  return { root, project: parsed.project, diagnostics: [...diagnostics, ...parsed.diagnostics] };
}
