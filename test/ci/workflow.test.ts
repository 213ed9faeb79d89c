/**
 * The GitHub Actions workflow users copy (examples/github/chpipe.yml):
 * actionlint (built by test/tools/actionlint.mjs at a pinned version) finds
 * nothing in it and does find deliberate mistakes in copies of it; its jobs
 * run the documented commands with least permissions; its shell steps treat
 * `chpipe plan`'s exit 2 as changes and never print a secret (run by bash with
 * a stand-in `npx` that plays chpipe's exit codes); its comment script updates
 * one comment in place (run against an in-memory stand-in of GitHub's API);
 * and every workflow embedded in README.md is this file, byte for byte.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, tempDir } from '../helpers/cli.js';

const WORKFLOW_FILE = join(ROOT, 'examples/github/chpipe.yml');
const WORKFLOW_TEXT = readFileSync(WORKFLOW_FILE, 'utf8');
/** The first build downloads actionlint's modules and compiles them (about 25 s here); a cached one takes well under a second. */
const INSTALL_TIMEOUT_MS = 20 * 60_000;

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}
interface Job {
  if?: string;
  environment?: string | { name: string };
  permissions?: Record<string, string>;
  concurrency?: { group: string; 'cancel-in-progress'?: boolean };
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, { branches?: string[] } | null>;
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const workflow = parse(WORKFLOW_TEXT) as Workflow;

interface Finding {
  message: string;
  filepath: string;
  line: number;
  column: number;
  kind: string;
}

let actionlint = '';

/** actionlint's findings on one file (its JSON output) and its exit code. */
function lint(file: string): { code: number; findings: Finding[]; stderr: string } {
  const r = spawnSync(actionlint, ['-no-color', '-format', '{{json .}}', file], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, findings: JSON.parse(r.stdout || 'null') as Finding[], stderr: r.stderr };
}

/** A copy of the workflow with `from` replaced (once) by `to`, in a temp folder; the line of the change. */
function mutated(from: string, to: string): { file: string; line: number } {
  const at = WORKFLOW_TEXT.indexOf(from);
  expect(at, `the workflow contains ${JSON.stringify(from)}`).toBeGreaterThanOrEqual(0);
  const file = join(tempDir('chpipe-ci-'), 'chpipe.yml');
  writeFileSync(file, WORKFLOW_TEXT.slice(0, at) + to + WORKFLOW_TEXT.slice(at + from.length));
  return { file, line: WORKFLOW_TEXT.slice(0, at).split('\n').length };
}

/** The chpipe invocations of a `run:` script: `npx chpipe CMD ARGS…`, up to a redirection or the next command. */
function chpipeCalls(script: string): { command: string; args: string[] }[] {
  const calls: { command: string; args: string[] }[] = [];
  for (const line of script.split('\n')) {
    const words = line.trim().split(/\s+/);
    for (let i = 0; i + 2 < words.length; i++) {
      if (words[i] !== 'npx' || words[i + 1] !== 'chpipe') continue;
      const args: string[] = [];
      for (const w of words.slice(i + 3)) {
        if (['|', '&&', '||', ';'].includes(w) || w.startsWith('>') || w.startsWith('2>')) break;
        args.push(w);
      }
      calls.push({ command: words[i + 2] as string, args });
    }
  }
  return calls;
}

const calls = (job: Job) => job.steps.flatMap((s) => (s.run ? chpipeCalls(s.run) : []));
const stepById = (job: Job, id: string): Step => {
  const step = job.steps.find((s) => s.id === id);
  if (!step) throw new Error(`no step with id ${id}`);
  return step;
};
const stepRunning = (job: Job, command: string): Step => {
  const step = job.steps.find((s) => s.run !== undefined && chpipeCalls(s.run).some((c) => c.command === command));
  if (!step) throw new Error(`no step runs chpipe ${command}`);
  return step;
};

describe('actionlint', () => {
  beforeAll(async () => {
    const t0 = Date.now();
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done, failed) => {
      const child = spawn(process.execPath, [join(ROOT, 'test/tools/actionlint.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      child.once('error', failed);
      child.once('close', (c) => done({ code: c, stdout: out, stderr: err }));
    });
    if (code !== 0) throw new Error(`test/tools/actionlint.mjs failed (exit ${code}):\n${stderr}`);
    actionlint = stdout.trim();
    console.log(`${stderr.trim()} (${((Date.now() - t0) / 1000).toFixed(1)} s in the test)`);
  }, INSTALL_TIMEOUT_MS);

  it('is the pinned version, built into node_modules/.cache/chpipe-tools/bin', () => {
    expect(actionlint).toBe(join(ROOT, 'node_modules/.cache/chpipe-tools/bin/actionlint'));
    const r = spawnSync(actionlint, ['-version'], { encoding: 'utf8' });
    expect(r.stdout.split('\n')[0]).toBe('v1.7.12');
  });

  it('finds nothing in examples/github/chpipe.yml', () => {
    const r = lint(WORKFLOW_FILE);
    expect(r.findings).toEqual([]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('finds an unknown key in a job (the linter really lints)', () => {
    const { file, line } = mutated('    runs-on: ubuntu-latest', '    runs-onn: ubuntu-latest');
    const r = lint(file);
    expect(r.code).toBe(1);
    expect(r.findings).toContainEqual(expect.objectContaining({ kind: 'syntax-check', line, message: expect.stringContaining('"runs-onn"') }));
  });

  it('finds a reference to a step that does not exist in a ${{ }} expression', () => {
    const { file, line } = mutated('${{ steps.plan.outputs.exitcode }}', '${{ steps.plann.outputs.exitcode }}');
    const r = lint(file);
    expect(r.code).toBe(1);
    expect(r.findings).toContainEqual(expect.objectContaining({ kind: 'expression', line, message: expect.stringContaining('"plann"') }));
  });
});

describe('the workflow runs the documented commands with least permissions', () => {
  const plan = workflow.jobs.plan as Job;
  const apply = workflow.jobs.apply as Job;

  it('runs on pull requests to main and on pushes to main', () => {
    expect(Object.keys(workflow.on).sort()).toEqual(['pull_request', 'push']);
    expect(workflow.on.pull_request?.branches).toEqual(['main']);
    expect(workflow.on.push?.branches).toEqual(['main']);
    expect(Object.keys(workflow.jobs).sort()).toEqual(['apply', 'plan']);
  });

  it('pull requests: chpipe check, then chpipe plan --detailed-exitcode and chpipe graph --changes, posted as a comment and in the job summary', () => {
    expect(plan.if).toBe("github.event_name == 'pull_request'");
    expect(calls(plan).map((c) => c.command)).toEqual(['check', 'plan', 'graph']);
    const graph = stepById(plan, 'graph') as Step & { 'continue-on-error'?: boolean };
    expect(chpipeCalls(graph.run ?? '')).toEqual([{ command: 'graph', args: ['--changes', '-o', '"$RUNNER_TEMP/chpipe-graph.mmd"'] }]);
    expect(graph.if).toBe("${{ steps.plan.outcome == 'success' }}");
    expect(graph['continue-on-error']).toBe(true);
    expect(stepRunning(plan, 'plan').id).toBe('plan');
    expect(chpipeCalls(stepById(plan, 'plan').run ?? '')).toEqual([{ command: 'plan', args: ['--detailed-exitcode'] }]);
    const post = plan.steps.at(-1) as Step;
    expect(post.uses).toBe('actions/github-script@v7');
    expect(post.if).toBe('${{ !cancelled() }}');
    expect(String(post.with?.script)).toContain('core.summary');
    expect(plan.concurrency).toEqual({ group: 'chpipe-plan-${{ github.event.pull_request.number }}', 'cancel-in-progress': true });
  });

  it('pushes to main: chpipe check, then chpipe apply --json --lock-timeout, in the production environment, never two at once', () => {
    expect(apply.if).toBe("github.event_name == 'push' && github.ref == 'refs/heads/main'");
    expect(calls(apply).map((c) => c.command)).toEqual(['check', 'apply']);
    expect(chpipeCalls(stepRunning(apply, 'apply').run ?? '')).toEqual([{ command: 'apply', args: ['--json', '--lock-timeout', '600'] }]);
    expect(apply.environment).toBe('production');
    expect(apply.concurrency).toEqual({ group: 'chpipe-apply-production', 'cancel-in-progress': false });
  });

  it('reads the repository and nothing else, but for the plan comment', () => {
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(plan.permissions).toEqual({ contents: 'read', 'pull-requests': 'write' });
    expect(apply.permissions).toEqual({ contents: 'read' });
  });

  it('uses the three actions pinned by major version, checkout without a persisted token', () => {
    const steps = Object.values(workflow.jobs).flatMap((j) => j.steps);
    const uses = steps.flatMap((s) => (s.uses ? [s.uses] : []));
    expect([...new Set(uses)].sort()).toEqual(['actions/checkout@v4', 'actions/github-script@v7', 'actions/setup-node@v4']);
    for (const s of steps.filter((st) => st.uses === 'actions/checkout@v4')) expect(s.with?.['persist-credentials']).toBe(false);
    for (const s of steps.filter((st) => st.uses === 'actions/setup-node@v4')) expect(s.with?.['node-version']).toBe(20);
  });

  it('gives secrets only to the steps that run chpipe plan, graph and apply, never inside a script', () => {
    const withSecrets: string[] = [];
    for (const [name, job] of Object.entries(workflow.jobs)) {
      expect(JSON.stringify(job.env ?? {})).not.toContain('secrets.');
      for (const step of job.steps) {
        // An expression inside `run:` would be pasted into the script text (and into the log).
        expect(step.run ?? '').not.toContain('${{');
        expect(step.run ?? '').not.toMatch(/set -x|set -o xtrace/);
        for (const [key, value] of Object.entries(step.env ?? {})) {
          if (value.includes('secrets.')) {
            expect(value).toBe(`\${{ secrets.${key} }}`);
            withSecrets.push(`${name}: ${chpipeCalls(step.run ?? '').map((c) => c.command).join(' ')}: ${key}`);
          }
        }
      }
    }
    expect(withSecrets.sort()).toEqual(['apply: apply: CHPIPE_URL', 'apply: apply: KAFKA_BROKERS', 'plan: graph: CHPIPE_URL', 'plan: plan: CHPIPE_URL']);
  });
});

/**
 * The steps' shell scripts, run as GitHub runs them (`bash --noprofile --norc -eo pipefail`),
 * with a stand-in `npx` first on PATH that plays chpipe: it prints (on stderr) what it was called
 * with and whether it saw CHPIPE_URL (never its value), one line (apply: a JSON object) on stdout,
 * and exits with $FAKE_EXIT.
 */
describe('the shell steps, with a stand-in for chpipe', () => {
  const SECRET = 'https://deploy:s3cr3t-pa55@ch.example.internal:8443';

  function runStep(script: string, env: Record<string, string>): { code: number; out: string; outputs: string; summary: string; dir: string } {
    const dir = tempDir('chpipe-ci-');
    mkdirSync(join(dir, 'bin'));
    const npx = join(dir, 'bin', 'npx');
    writeFileSync(
      npx,
      '#!/bin/sh\n' +
        'echo "npx $*" >&2\n' +
        'if [ -n "${CHPIPE_URL+set}" ]; then echo "CHPIPE_URL given" >&2; else echo "no CHPIPE_URL" >&2; fi\n' +
        'if [ "$2" = apply ]; then echo \'{"applied":[]}\'; else echo "output of chpipe $2"; fi\n' +
        'exit "${FAKE_EXIT:-0}"\n',
    );
    chmodSync(npx, 0o755);
    const scriptFile = join(dir, 'step.sh');
    writeFileSync(scriptFile, script);
    const outputs = join(dir, 'github-output');
    const summary = join(dir, 'step-summary');
    writeFileSync(outputs, '');
    writeFileSync(summary, '');
    const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', scriptFile], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}`, HOME: dir, RUNNER_TEMP: dir, GITHUB_OUTPUT: outputs, GITHUB_STEP_SUMMARY: summary, NO_COLOR: '1', ...env },
    });
    return { code: r.status ?? -1, out: r.stdout + r.stderr, outputs: readFileSync(outputs, 'utf8'), summary: readFileSync(summary, 'utf8'), dir };
  }

  const planScript = stepById(workflow.jobs.plan as Job, 'plan').run ?? '';
  const applyScript = stepRunning(workflow.jobs.apply as Job, 'apply').run ?? '';
  const checkScript = stepById(workflow.jobs.plan as Job, 'check').run ?? '';

  it('plan: exit 2 (changes) and 0 (none) pass the step, with the exit code as an output and the plan kept for the comment', () => {
    for (const exit of [0, 2]) {
      const r = runStep(planScript, { CHPIPE_URL: SECRET, FAKE_EXIT: String(exit) });
      expect(r.code).toBe(0);
      expect(r.outputs).toBe(`exitcode=${exit}\n`);
      expect(readFileSync(join(r.dir, 'chpipe-plan.txt'), 'utf8')).toBe('npx chpipe plan --detailed-exitcode\nCHPIPE_URL given\noutput of chpipe plan\n');
      expect(r.out).not.toContain('s3cr3t');
    }
  });

  it('plan: any other exit code fails the step with that code', () => {
    for (const exit of [1, 3]) {
      const r = runStep(planScript, { CHPIPE_URL: SECRET, FAKE_EXIT: String(exit) });
      expect(r.code).toBe(exit);
      expect(r.outputs).toBe(`exitcode=${exit}\n`);
      expect(r.out).not.toContain('s3cr3t');
    }
  });

  it('graph: with and without the secret, writes the graph of the changes into RUNNER_TEMP; its exit code is the step\'s', () => {
    const graphScript = stepById(workflow.jobs.plan as Job, 'graph').run ?? '';
    const withTarget = runStep(graphScript, { CHPIPE_URL: SECRET, FAKE_EXIT: '0' });
    expect(withTarget.code).toBe(0);
    expect(withTarget.out).toContain(`npx chpipe graph --changes -o ${withTarget.dir}/chpipe-graph.mmd\nCHPIPE_URL given`);
    expect(withTarget.out).not.toContain('s3cr3t');
    const fork = runStep(graphScript, { CHPIPE_URL: '', FAKE_EXIT: '0' });
    expect(fork.out).toContain('no CHPIPE_URL');
    expect(runStep(graphScript, { CHPIPE_URL: SECRET, FAKE_EXIT: '1' }).code).toBe(1);
  });

  it('plan: without the secret (a pull request from a fork) plans without a target and says so', () => {
    const r = runStep(planScript, { CHPIPE_URL: '', FAKE_EXIT: '2' });
    expect(r.code).toBe(0);
    expect(r.out).toContain('no CHPIPE_URL');
    expect(r.out).toMatch(/^::notice::CHPIPE_URL is not set/m);
  });

  it('check: its exit code fails the step through the pipe into tee', () => {
    expect(runStep(checkScript, { FAKE_EXIT: '1' }).code).toBe(1);
    const ok = runStep(checkScript, { FAKE_EXIT: '0' });
    expect(ok.code).toBe(0);
    expect(readFileSync(join(ok.dir, 'chpipe-check.txt'), 'utf8')).toContain('npx chpipe check');
  });

  it('apply: its JSON goes to the log and the job summary; its exit code is the step\'s; exit 3 is annotated', () => {
    const ok = runStep(applyScript, { CHPIPE_URL: SECRET, KAFKA_BROKERS: 'k1:9092', FAKE_EXIT: '0' });
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('{"applied":[]}');
    expect(ok.summary).toContain('```json\n{"applied":[]}\n```\n');
    expect(ok.out).not.toContain('s3cr3t');
    const refused = runStep(applyScript, { CHPIPE_URL: SECRET, FAKE_EXIT: '3' });
    expect(refused.code).toBe(3);
    expect(refused.out).toMatch(/^::error::chpipe apply refused a destructive step \(exit 3\)/m);
    const failed = runStep(applyScript, { CHPIPE_URL: SECRET, FAKE_EXIT: '1' });
    expect(failed.code).toBe(1);
    expect(failed.out).not.toContain('::error::chpipe apply refused');
  });

  it('apply: refuses to start without the CHPIPE_URL secret', () => {
    const r = runStep(applyScript, { CHPIPE_URL: '' });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^::error::the CHPIPE_URL secret is not set/m);
    expect(r.out).not.toContain('npx chpipe');
  });
});

/**
 * The comment step's script, run as actions/github-script runs it (an async function body
 * given github, context, core and require), against an in-memory stand-in of GitHub's API.
 */
describe('the plan comment', () => {
  const post = (workflow.jobs.plan as Job).steps.at(-1) as Step;
  const script = String(post.with?.script);
  type Comment = { id: number; body: string; user: { type: string } };

  function fakeGitHub(comments: Comment[], refuse = false) {
    let next = 100;
    const listComments = async () => comments;
    return {
      paginate: async (fn: unknown, _params: unknown) => {
        if (refuse) throw Object.assign(new Error('Resource not accessible by integration'), { status: 403 });
        return (fn as typeof listComments)();
      },
      rest: {
        issues: {
          listComments,
          createComment: async ({ body }: { body: string }) => void comments.push({ id: next++, body, user: { type: 'Bot' } }),
          updateComment: async ({ comment_id, body }: { comment_id: number; body: string }) => {
            const c = comments.find((x) => x.id === comment_id);
            if (!c) throw new Error(`no comment ${comment_id}`);
            c.body = body;
          },
        },
      },
    };
  }

  async function runScript(github: ReturnType<typeof fakeGitHub>, env: Record<string, string>, files: Record<string, string>) {
    const dir = tempDir('chpipe-ci-');
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const summaries: string[] = [];
    const warnings: string[] = [];
    const core = {
      summary: { addRaw: (s: string) => ({ write: async () => void summaries.push(s) }) },
      warning: (s: string) => void warnings.push(s),
    };
    const context = {
      repo: { owner: 'acme', repo: 'pipelines' },
      serverUrl: 'https://github.com',
      runId: 42,
      payload: { pull_request: { number: 7, head: { sha: '0123456789abcdef' } } },
    };
    const fakeProcess = { env: { RUNNER_TEMP: dir, ...env } };
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
    await new AsyncFunction('github', 'context', 'core', 'require', 'process', script)(github, context, core, createRequire(import.meta.url), fakeProcess);
    return { summaries, warnings };
  }

  it('creates one comment, then updates it in place on the next push; the summary gets the same text', async () => {
    const comments: Comment[] = [{ id: 1, body: 'LGTM', user: { type: 'User' } }];
    const github = fakeGitHub(comments);
    const first = await runScript(github, { CHECK_OUTCOME: 'success', PLAN_EXITCODE: '2' }, { 'chpipe-plan.txt': 'step 1/1 · create · safe · analytics.t\n' });
    expect(comments).toHaveLength(2);
    expect(comments[1]?.body).toMatch(/^<!-- chpipe-plan -->\n### chpipe plan: changes, applied when this pull request is merged\n\n```text\nstep 1\/1 · create · safe · analytics.t\n```\n/);
    expect(comments[1]?.body).toContain('Commit 0123456, [workflow run](https://github.com/acme/pipelines/actions/runs/42)');
    expect(first.summaries).toEqual([comments[1]?.body]);
    await runScript(github, { CHECK_OUTCOME: 'success', PLAN_EXITCODE: '0' }, { 'chpipe-plan.txt': 'No changes.\n' });
    expect(comments).toHaveLength(2);
    expect(comments[1]?.body).toMatch(/^<!-- chpipe-plan -->\n### chpipe plan: no changes\n\n```text\nNo changes.\n```\n/);
    expect(comments[0]?.body).toBe('LGTM');
  });

  it('draws the graph of what changes in a mermaid block after the plan, when there is one and the plan ran', async () => {
    const comments: Comment[] = [];
    const mermaid = 'flowchart LR\n  topic_t>"t"] --> kafka_q[["q"]]';
    await runScript(fakeGitHub(comments), { CHECK_OUTCOME: 'success', PLAN_EXITCODE: '2' }, { 'chpipe-plan.txt': 'step 1/1 · create · safe · analytics.t\n', 'chpipe-graph.mmd': `${mermaid}\n` });
    expect(comments[0]?.body).toContain('```\n\n#### What changes\n\n```mermaid\n' + mermaid + '\n```\n\nCommit 0123456');
    // A failed plan: no picture of an older run's graph.
    const failed: Comment[] = [];
    await runScript(fakeGitHub(failed), { CHECK_OUTCOME: 'success', PLAN_EXITCODE: '1' }, { 'chpipe-plan.txt': 'error\n', 'chpipe-graph.mmd': `${mermaid}\n` });
    expect(failed[0]?.body).not.toContain('mermaid');
    // No graph file (nothing changes): no picture.
    const none: Comment[] = [];
    await runScript(fakeGitHub(none), { CHECK_OUTCOME: 'success', PLAN_EXITCODE: '0' }, { 'chpipe-plan.txt': 'No changes.\n' });
    expect(none[0]?.body).not.toContain('What changes');
  });

  it('shows a failed check instead of the last plan, and fences text that holds backquotes', async () => {
    const comments: Comment[] = [{ id: 5, body: '<!-- chpipe-plan -->\nold plan', user: { type: 'Bot' } }];
    await runScript(fakeGitHub(comments), { CHECK_OUTCOME: 'failure', PLAN_EXITCODE: '' }, { 'chpipe-check.txt': 'error: run ```chpipe migrate hash```\n' });
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain('### chpipe plan: `chpipe check` failed\n\n````text\nerror: run ```chpipe migrate hash```\n````\n');
  });

  it('cuts a long plan in the comment, not in the summary', async () => {
    const comments: Comment[] = [];
    const long = 'x'.repeat(70_000);
    const r = await runScript(fakeGitHub(comments), { CHECK_OUTCOME: 'success', PLAN_EXITCODE: '2' }, { 'chpipe-plan.txt': long });
    expect(comments[0]?.body.length).toBeLessThan(65_536);
    expect(comments[0]?.body).toContain('(cut here: the whole plan is in the job summary)');
    expect(r.summaries[0]).toContain(long);
  });

  it('warns, and keeps the summary, when the token may not comment (a pull request from a fork)', async () => {
    const r = await runScript(fakeGitHub([], true), { CHECK_OUTCOME: 'success', PLAN_EXITCODE: '0' }, { 'chpipe-plan.txt': 'No changes.\n' });
    expect(r.warnings).toEqual([expect.stringContaining('could not comment on the pull request')]);
    expect(r.summaries).toHaveLength(1);
  });
});

describe('README.md', () => {
  it('embeds this workflow, byte for byte, wherever it shows one', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    // Fenced blocks (``` or ~~~, at most 3 spaces of indentation), with their info string's first word.
    const blocks: { lang: string; text: string; line: number }[] = [];
    const lines = readme.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i] as string);
      if (!open) continue;
      const fence = open[1] as string;
      let j = i + 1;
      while (j < lines.length && !new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`).test(lines[j] as string)) j++;
      blocks.push({ lang: (open[2] as string).toLowerCase(), text: lines.slice(i + 1, j).join('\n') + '\n', line: i + 1 });
      i = j;
    }
    // A workflow: a yaml block that is a mapping with `on` and `jobs`.
    const isWorkflow = (text: string) => {
      try {
        const doc: unknown = parse(text);
        return typeof doc === 'object' && doc !== null && 'jobs' in doc && 'on' in doc;
      } catch {
        return false;
      }
    };
    const workflows = blocks.filter((b) => ['yaml', 'yml'].includes(b.lang) && isWorkflow(b.text));
    expect(workflows.length, 'README.md embeds the workflow (section "Continuous integration")').toBeGreaterThan(0);
    for (const b of workflows) expect(b.text, `the workflow at README.md:${b.line}`).toBe(WORKFLOW_TEXT);
  });

  it('the workflow can be embedded in a ```yaml block: no line of it would close the fence', () => {
    expect(WORKFLOW_TEXT.split('\n').filter((l) => /^ {0,3}`{3,}/.test(l))).toEqual([]);
    expect(existsSync(WORKFLOW_FILE)).toBe(true);
  });
});
