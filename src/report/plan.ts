import type { Action, Risk, Step } from '../plan/plan.js';
import type { Paint } from './paint.js';

const SYMBOL: Record<Action, string> = { create: '+', start: '+', drop: '-', stop: '-', alter: '~', modify_query: '~', replace: '~', copy: '~', swap: '~' };

function riskPaint(risk: Risk, paint: Paint): (s: string) => string {
  return risk === 'destructive' ? paint.red : risk === 'caution' ? paint.yellow : paint.green;
}

export interface PlanSummary {
  readonly create: number;
  readonly change: number;
  readonly recreate: number;
  readonly destroy: number;
  readonly risks: Record<Risk, number>;
}

/** Counts by object, as Terraform does: an object dropped and created again is one recreate. */
export function summarize(steps: readonly Step[]): PlanSummary {
  const byObject = new Map<string, Set<string>>();
  for (const s of steps) {
    const kinds = byObject.get(s.object) ?? new Set<string>();
    kinds.add(SYMBOL[s.action]);
    byObject.set(s.object, kinds);
  }
  const summary = { create: 0, change: 0, recreate: 0, destroy: 0 };
  for (const kinds of byObject.values()) {
    if (kinds.has('-') && kinds.has('+')) summary.recreate++;
    else if (kinds.has('-')) summary.destroy++;
    else if (kinds.has('+')) summary.create++;
    else summary.change++;
  }
  const risks: Record<Risk, number> = { safe: 0, caution: 0, destructive: 0 };
  for (const s of steps) risks[s.risk]++;
  return { ...summary, risks };
}

export function renderPlan(steps: readonly Step[], paint: Paint, options: { sql: boolean; title: string }): string {
  if (steps.length === 0) return `${paint.green('No changes.')} The declared pipelines match ${options.title}.`;
  const lines: string[] = [`Plan: ${options.title} → declared pipelines`, paint.dim('Steps run in the order of their numbers; they are grouped by pipeline to read.'), ''];
  const width = Math.max(...steps.map((s) => s.object.length));
  const groups = new Map<string, number[]>();
  steps.forEach((s, i) => groups.set(s.pipeline ?? '', [...(groups.get(s.pipeline ?? '') ?? []), i]));
  for (const [pipeline, indexes] of groups) {
    lines.push(paint.bold(pipeline ? `  pipeline ${pipeline}` : '  database'));
    for (const i of indexes) {
      const s = steps[i] as Step;
      const symbol = SYMBOL[s.action];
      const colour = symbol === '+' ? paint.green : symbol === '-' ? paint.red : paint.yellow;
      const risk = riskPaint(s.risk, paint)(s.risk.padEnd(11));
      lines.push(`  ${String(i + 1).padStart(3)}. ${colour(symbol)} ${s.action.padEnd(12)} ${s.object.padEnd(width)}  ${risk} ${s.reason}`);
      if (options.sql) lines.push(...s.sql.split('\n').map((l) => paint.dim(`         ${l}`)), '');
    }
  }
  const sum = summarize(steps);
  lines.push(
    '',
    `${paint.bold('Plan:')} ${sum.create} to create, ${sum.change} to change, ${sum.recreate} to recreate, ${sum.destroy} to destroy · ${steps.length} steps: ` +
      `${paint.green(`${sum.risks.safe} safe`)}, ${paint.yellow(`${sum.risks.caution} caution`)}, ${paint.red(`${sum.risks.destructive} destructive`)}`,
  );
  return lines.join('\n');
}
