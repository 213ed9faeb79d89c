/**
 * A newcomer's first minutes: chpipe found from a subfolder of a project, the
 * documented commands that are not built yet saying so, and chpipe installed
 * from its packed tarball into a fresh folder, then
 * `npx chpipe init && npx chpipe validate && npx chpipe plan` and the "Next:"
 * line init prints, run exactly as printed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chpipeInProcess, ROOT, tempDir, tempProject } from '../helpers/cli.js';

const PIPELINE = 'name: api_latency\nsource: { topic: t, format: JSONEachRow }\ncolumns:\n  api_id: Int32\ntable:\n  order_by: [api_id]\n';

describe('run from a subfolder', () => {
  it('finds chpipe.yaml in the nearest folder above, and names files from where it runs', async () => {
    const dir = tempProject({ 'schemas/deep/er/api_latency.yaml': PIPELINE.replace('api_id: Int32', 'api_id: Int32\n  x: Nope') });
    const r = await chpipeInProcess(['validate'], join(dir, 'schemas/deep/er'));
    expect(r.stderr).toMatch(/^api_latency\.yaml:5:6: error\[unknown-type\]/m);
    expect(r.code).toBe(1);
    writeFileSync(join(dir, 'schemas/deep/er/api_latency.yaml'), PIPELINE);
    const ok = await chpipeInProcess(['validate'], join(dir, 'schemas/deep'));
    expect(ok.stdout).toContain('1 pipeline valid');
    expect(ok.code).toBe(0);
    const plan = await chpipeInProcess(['plan', '--save', 'initial'], join(dir, 'schemas'));
    expect(plan.stdout).toContain('Saved ../migrations/0001_initial.sql');
    expect(existsSync(join(dir, 'migrations/0001_initial.sql'))).toBe(true);
  });

  it('takes an explicit -c as given, relative to the current folder', async () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    const r = await chpipeInProcess(['validate', '-c', 'chpipe.yaml'], join(dir, 'schemas'));
    expect(r.stderr).toMatch(/^chpipe\.yaml:1:1: error\[no-project\]: no project file chpipe\.yaml$/m);
    expect(r.code).toBe(1);
    const given = await chpipeInProcess(['validate', '-c', '../chpipe.yaml'], join(dir, 'schemas'));
    expect(given.code).toBe(0);
  });

  it('says where it looked when there is no project anywhere above', async () => {
    const dir = tempDir();
    const r = await chpipeInProcess(['validate'], dir);
    expect(r.stderr).toContain('no project file chpipe.yaml');
    expect(r.stderr).toContain('looked for here and in every folder above');
    expect(r.code).toBe(1);
  });
});

describe('chpipe pull outside a project, and unknown commands', () => {
  it('chpipe pull without a project says where it looked (exit 1, no stack trace)', async () => {
    const r = await chpipeInProcess(['pull'], tempDir());
    expect(r.stderr).toContain('no project file chpipe.yaml');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(1);
  });

  it('an unknown command is still one', async () => {
    const r = await chpipeInProcess(['aply'], ROOT);
    expect(r.stderr).toContain("error: unknown command 'aply'");
    expect(r.code).toBe(1);
  });
});

describe('chpipe in a user\'s own project', () => {
  it('npm pack, npm install of the tarball into a fresh folder, then init, validate, plan and the printed Next line', () => {
    const home = tempDir('chpipe-install-');
    const sh = (command: string, cwd: string) => {
      const r = spawnSync('sh', ['-c', command], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', npm_config_update_notifier: 'false' }, timeout: 180_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    // The tarball of what `npm publish` would ship (dist/ is built by the test command first).
    const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', home], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop() as string;
    const project = join(home, 'my-analytics');
    const install = sh(`mkdir my-analytics && cd my-analytics && npm init -y >/dev/null && npm install ${join(home, tarball)} --prefer-offline --no-audit --no-fund`, home);
    expect(install.code, install.stderr).toBe(0);
    // Every runtime dependency runs on the Node versions chpipe supports, and chpipe itself runs nothing at install.
    expect(install.stderr).not.toContain('EBADENGINE');
    expect(install.stderr).not.toMatch(/chpipe@[^\n]*\((?:pre|post)?install|chpipe@[^\n]*\(prepare/);

    const first = sh('npx chpipe init && npx chpipe validate && npx chpipe plan', project);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('1 pipeline valid');
    expect(first.stdout).toMatch(/Plan: 4 to create/);

    // init in a new folder prints the way on; run that line exactly as printed.
    const init = sh('npx chpipe init shop', project);
    expect(init.code).toBe(0);
    const next = /^Next: (.+)$/m.exec(init.stdout)?.[1];
    expect(next).toBe('cd shop && npx chpipe validate && npx chpipe plan');
    const ran = sh(next as string, project);
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('1 pipeline valid');
    expect(readdirSync(join(project, 'shop'))).toEqual(expect.arrayContaining(['chpipe.yaml', 'schemas', 'migrations']));
  });
});
