import type { Diagnostic } from '../spec/diagnostic.js';
import type { Paint } from './paint.js';

/** `file:line:col: error[code]: message` then the expectation and the hint, indented. */
export function renderDiagnostics(diagnostics: readonly Diagnostic[], paint: Paint): string {
  const lines: string[] = [];
  for (const d of diagnostics) {
    lines.push(`${paint.bold(`${d.file}:${d.line}:${d.col}`)}: ${paint.red(`error[${d.code}]`)}: ${d.message}`);
    if (d.expected) lines.push(`  ${paint.dim('expected:')} ${d.expected}`);
    if (d.hint) lines.push(`  ${paint.cyan('hint:')} ${d.hint}`);
  }
  const n = diagnostics.length;
  lines.push(paint.red(`${n} error${n === 1 ? '' : 's'}`));
  return lines.join('\n');
}

export function diagnosticsJson(diagnostics: readonly Diagnostic[]): object {
  return { schemaVersion: 1, ok: diagnostics.length === 0, diagnostics };
}
