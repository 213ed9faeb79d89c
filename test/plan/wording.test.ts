/**
 * What plan says in two cases a newcomer met: a dropped and an added column of
 * the same type (a rename the YAML did not declare) get a hint to declare
 * `renamed_from`; a flow that reads a hub (`on_error: stream`) is not said to
 * read committed offsets itself (the queue's flow into the hub does).
 */
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chpipe, tempProject } from '../helpers/cli.js';

const PROJECT = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: 127.0.0.1:9\n';
const clicks = (columns: string, onError = '') => `name: clicks\nsource:\n  topic: clicks\n${onError}columns:\n  id: Int64\n${columns}table:\n  order_by: [id]\n`;

describe('plan wording', () => {
  it('a dropped and an added column of the same type: the drop says how to declare the rename', () => {
    const dir = tempProject({ 'schemas/clicks.yaml': clicks('  page: String\n  n: Int32\n') }, PROJECT);
    expect(chpipe(['plan', '--save', 'init'], dir).code).toBe(0);
    const edited = clicks('  url: String\n  n: Int32\n');
    writeFileSync(`${dir}/schemas/clicks.yaml`, edited);
    const plan = chpipe(['plan', '--json'], dir);
    const steps = (JSON.parse(plan.stdout) as { steps: { risk: string; reason: string }[] }).steps;
    const drop = steps.find((s) => s.risk === 'destructive');
    expect(drop?.reason).toBe('drop column page and its data; if page was renamed to url, declare it as `url: { type: String, renamed_from: page }` and the plan renames it, keeping its values');
    // The count says the change loses data (it said "0 to destroy" beside "1 destructive" and nothing else).
    const text = chpipe(['plan'], dir).stdout;
    expect(text).toContain('Plan: 0 to create, 1 to change (1 losing data), 2 to recreate, 0 to destroy');
    // Declared as the hint says: a rename, safe.
    writeFileSync(`${dir}/schemas/clicks.yaml`, clicks('  url: { type: String, renamed_from: page }\n  n: Int32\n'));
    const renamed = JSON.parse(chpipe(['plan', '--json'], dir).stdout) as { steps: { risk: string }[] };
    expect(renamed.steps.map((s) => s.risk)).not.toContain('destructive');
  });

  it('a flow reading the hub does not claim to read the committed offsets', () => {
    const dir = tempProject({ 'schemas/clicks.yaml': clicks('  page: String\n', '  on_error: stream\n') }, PROJECT);
    const steps = (JSON.parse(chpipe(['plan', '--json'], dir).stdout) as { steps: { object: string; reason: string }[] }).steps;
    expect(steps.find((s) => s.object === 'analytics.clicks_mv')?.reason).toBe('start the flow clicks_mv into clicks: it reads hub clicks_hub, so it sees every message group chpipe_analytics_clicks reads once the flow into clicks_hub runs');
    expect(steps.find((s) => s.object === 'analytics.clicks_hub_mv')?.reason).toContain('reads from its committed offsets');
  });
});
