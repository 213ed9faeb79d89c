import type { Action, Risk, Step } from '../plan/plan.js';
import type { Paint } from './paint.js';

const SYMBOL: Record<Action, string> = { create: '+', start: '+', drop: '-', stop: '-', alter: '~', modify_query: '~', replace: '~', copy: '~', swap: '~' };

function riskPaint(risk: Risk, paint: Paint): (s: string) => string {
  return risk === 'destructive' ? paint.red : risk === 'caution' ? paint.yellow : paint.green;
}

export interface PlanSummary {
  readonly create: number;
  readonly change: number;
  /** Of `change`: objects a destructive step changes (a column dropped, a type narrowed): they stay, their data does not. */
  readonly changeLosingData: number;
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
  const summary = { create: 0, change: 0, changeLosingData: 0, recreate: 0, destroy: 0 };
  const destructive = new Set(steps.filter((s) => s.risk === 'destructive').map((s) => s.object));
  for (const [object, kinds] of byObject) {
    if (kinds.has('-') && kinds.has('+')) summary.recreate++;
    else if (kinds.has('-')) summary.destroy++;
    else if (kinds.has('+')) summary.create++;
    else {
      summary.change++;
      if (destructive.has(object)) summary.changeLosingData++;
    }
  }
  const risks: Record<Risk, number> = { safe: 0, caution: 0, destructive: 0 };
  for (const s of steps) risks[s.risk]++;
  return { ...summary, risks };
}

/**
 * Words of `text` in lines of at most `width` characters (a word longer than
 * that gets a line of its own: never broken inside), each after `indent`.
 */
export function wrap(text: string, width: number, indent = ''): string[] {
  const room = Math.max(1, width - indent.length);
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/ +/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > room) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line || lines.length === 0) lines.push(indent + line);
  return lines;
}

export interface PlanRenderOptions {
  readonly sql: boolean;
  readonly title: string;
  /** Columns to fit in: the terminal's width, 80 when stdout is not a terminal. */
  readonly width?: number;
}

/** Where a reason starts when it goes under its step: below the action. */
const UNDER = ' '.repeat(9);

/**
 * The plan a person reads: steps numbered in execution order, grouped by
 * pipeline. A step and its reason share a line when every step fits the
 * width; otherwise each reason goes under its step, wrapped between words.
 */
export function renderPlan(steps: readonly Step[], paint: Paint, options: PlanRenderOptions): string {
  const columns = options.width ?? 80;
  if (steps.length === 0) return wrap(`No changes. The declared pipelines match ${options.title}.`, columns).join('\n').replace(/^No changes\./, paint.green('No changes.'));
  const lines: string[] = [...wrap(`Plan: ${options.title} → declared pipelines`, columns), ...wrap('Steps run in the order of their numbers; they are grouped by pipeline to read.', columns).map((l) => paint.dim(l)), ''];
  const width = Math.max(...steps.map((s) => s.object.length));
  const head = (s: Step, i: number) => `  ${String(i + 1).padStart(3)}. ${SYMBOL[s.action]} ${s.action.padEnd(12)} ${s.object.padEnd(width)}  ${s.risk.padEnd(11)}`;
  const oneLine = steps.every((s, i) => head(s, i).length + 1 + s.reason.length <= columns);
  const groups = new Map<string, number[]>();
  steps.forEach((s, i) => groups.set(s.pipeline ?? '', [...(groups.get(s.pipeline ?? '') ?? []), i]));
  for (const [pipeline, indexes] of groups) {
    lines.push(paint.bold(pipeline ? `  pipeline ${pipeline}` : '  database'));
    for (const i of indexes) {
      const s = steps[i] as Step;
      const symbol = SYMBOL[s.action];
      const colour = symbol === '+' ? paint.green : symbol === '-' ? paint.red : paint.yellow;
      const risk = riskPaint(s.risk, paint)(oneLine ? s.risk.padEnd(11) : s.risk);
      const step = `  ${String(i + 1).padStart(3)}. ${colour(symbol)} ${s.action.padEnd(12)} ${s.object.padEnd(width)}  ${risk}`;
      if (oneLine) lines.push(`${step} ${s.reason}`);
      else lines.push(step.trimEnd(), ...wrap(s.reason, columns, UNDER));
      if (options.sql) lines.push(...s.sql.split('\n').map((l) => paint.dim(`${UNDER}${l}`)), '');
    }
  }
  const sum = summarize(steps);
  // A change that drops data (a column, a measure's state) is not a destroy: say beside it that it loses data.
  const losing = sum.changeLosingData ? ` (${sum.changeLosingData} losing data)` : '';
  const counts = `${sum.create} to create, ${sum.change} to change${losing}, ${sum.recreate} to recreate, ${sum.destroy} to destroy`;
  const risks = (safe: string, caution: string, destructive: string) => `${steps.length} steps: ${safe}, ${caution}, ${destructive}`;
  const [safe, caution, destructive] = [`${sum.risks.safe} safe`, `${sum.risks.caution} caution`, `${sum.risks.destructive} destructive`];
  const painted = risks(paint.green(safe), paint.yellow(caution), paint.red(destructive));
  lines.push('');
  if (`Plan: ${counts} · ${risks(safe, caution, destructive)}`.length <= columns) lines.push(`${paint.bold('Plan:')} ${counts} · ${painted}`);
  else lines.push(`${paint.bold('Plan:')} ${counts}`, `      ${painted}`);
  return lines.join('\n');
}
