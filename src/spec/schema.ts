import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { createRequire } from 'node:module';
import { closest, diagnostic, didYouMean, type Diagnostic } from './diagnostic.js';
import { locate, type PathKey, type SourceFile } from './source.js';

const require = createRequire(import.meta.url);
type JsonSchema = Record<string, unknown>;
export const projectSchema = require('../../schema/chpipe.schema.json') as JsonSchema;
export const pipelineSchema = require('../../schema/pipeline.schema.json') as JsonSchema;

let compiled: { project: ValidateFunction; pipeline: ValidateFunction } | undefined;

function validators() {
  if (!compiled) {
    // verbose: each error carries its parentSchema (ajv's schemaPath is relative to the last $ref).
    const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
    compiled = { project: ajv.compile(projectSchema), pipeline: ajv.compile(pipelineSchema) };
  }
  return compiled;
}

/** Validate a parsed file against its JSON Schema; one diagnostic per problem, at its line and column. */
export function schemaDiagnostics(kind: 'project' | 'pipeline', src: SourceFile, data: unknown): Diagnostic[] {
  const validate = validators()[kind];
  if (validate(data)) return [];
  const root = kind === 'project' ? projectSchema : pipelineSchema;
  return withoutTypoNoise(relevantErrors(validate.errors ?? [], data)).map((e) => toDiagnostic(e, src, root, data));
}

/** `{ tpye: Int32 }` is one mistake: keep "unknown key tpye (did you mean type?)", drop "missing key type". */
function withoutTypoNoise(errors: ErrorObject[]): ErrorObject[] {
  const unknown = (e: ErrorObject) => (e.keyword === 'additionalProperties' ? String((e.params as { additionalProperty: string }).additionalProperty) : undefined);
  return errors.filter((e) => {
    if (e.keyword !== 'required') return true;
    const missing = String((e.params as { missingProperty: string }).missingProperty);
    return !errors.some((u) => u.instancePath === e.instancePath && unknown(u) !== undefined && closest(unknown(u) as string, [missing]) === missing);
  });
}

function pathOf(instancePath: string): PathKey[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function valueAt(data: unknown, path: PathKey[]): unknown {
  let v = data;
  for (const k of path) v = (v as Record<string | number, unknown> | undefined)?.[k];
  return v;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (Number.isInteger(v)) return 'integer';
  return typeof v;
}

/**
 * ajv reports every branch of a failed `oneOf`. Keep the branch whose type
 * matches the value the user wrote (an object branch for an object), so an
 * unknown key inside a column object is reported as that, not as "must match
 * exactly one schema".
 */
function relevantErrors(errors: ErrorObject[], data: unknown): ErrorObject[] {
  const oneOfFailures = errors.filter((e) => e.keyword === 'oneOf');
  const out: ErrorObject[] = [];
  for (const e of errors) {
    if (e.keyword === 'oneOf') continue;
    const branch = /\/oneOf\/(\d+)\//.exec(e.schemaPath);
    if (!branch) {
      out.push(e);
      continue;
    }
    const owner = oneOfFailures.find((o) => e.schemaPath.startsWith(o.schemaPath + '/') && e.instancePath.startsWith(o.instancePath));
    if (!owner) continue;
    const value = valueAt(data, pathOf(owner.instancePath));
    const typeError = errors.find((t) => t.keyword === 'type' && t.schemaPath === `${owner.schemaPath}/${branch[1]}/type`);
    if (!typeError && !(e.keyword === 'type' && jsonType(value) === 'null')) out.push(e);
  }
  for (const o of oneOfFailures) {
    const kept = out.some((e) => e.instancePath.startsWith(o.instancePath) && /\/oneOf\//.test(e.schemaPath) && e.schemaPath.startsWith(o.schemaPath));
    if (!kept) out.push(o);
  }
  // One message per place: a `type` error makes the others at the same path noise.
  return out.filter((e, i) => out.findIndex((f) => f.instancePath === e.instancePath && f.keyword === e.keyword && f.message === e.message && JSON.stringify(f.params) === JSON.stringify(e.params)) === i);
}

/** A value as the user wrote it, for "got ..." in messages. */
function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return JSON.stringify(v);
}

function article(word: string): string {
  return /^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`;
}

function schemaAt(root: JsonSchema, schemaPath: string): JsonSchema | undefined {
  let node: unknown = root;
  for (const part of schemaPath.replace(/^#\//, '').split('/')) {
    if (part === '') continue;
    node = (node as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (node && typeof node === 'object' && '$ref' in node) {
      node = schemaAt(root, (node as { $ref: string }).$ref);
    }
  }
  return node as JsonSchema | undefined;
}

function describeSchema(root: JsonSchema, s: JsonSchema | undefined): string {
  if (!s) return 'a valid value';
  if (typeof s.$ref === 'string') return describeSchema(root, schemaAt(root, s.$ref));
  if (Array.isArray(s.oneOf)) return (s.oneOf as JsonSchema[]).map((b) => describeSchema(root, b)).join(' or ');
  if (Array.isArray(s.enum)) return `one of ${(s.enum as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  if ('const' in s) return JSON.stringify(s.const);
  const t = s.type;
  if (t === 'object') {
    const props = s.properties ? Object.keys(s.properties as object) : [];
    return props.length ? `a map with keys ${props.join(', ')}` : 'a map';
  }
  if (t === 'array') return 'a list';
  if (Array.isArray(t)) return (t as string[]).filter((x) => x !== 'null').map((x) => article(x)).join(' or ');
  return t ? article(String(t)) : 'a valid value';
}

function toDiagnostic(e: ErrorObject, src: SourceFile, root: JsonSchema, data: unknown): Diagnostic {
  const path = pathOf(e.instancePath);
  const where = path.length ? `"${path.join('.')}"` : 'the file';
  const parent = e.parentSchema as JsonSchema | undefined;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys((parent?.properties as object | undefined) ?? {});
      return diagnostic(locate(src, [...path, key], 'key'), 'unknown-key', `unknown key "${key}"${path.length ? ` in ${where}` : ''}`, {
        expected: allowed.length ? `one of ${allowed.join(', ')}` : undefined,
        hint: didYouMean(key, allowed),
      });
    }
    case 'required': {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      return diagnostic(locate(src, path), 'missing-key', `missing required key "${key}"${path.length ? ` in ${where}` : ''}`, {
        expected: `"${key}": ${describeSchema(root, (parent?.properties as Record<string, JsonSchema> | undefined)?.[key])}`,
      });
    }
    case 'type':
    case 'oneOf':
    case 'enum':
    case 'const': {
      const expected = describeSchema(root, parent);
      const value = valueAt(data, path);
      const allowed = e.keyword === 'enum' ? ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String) : [];
      const asMap = Array.isArray(value) && expected.startsWith('a map') ? 'write it as a map, one `name: value` per line' : undefined;
      return diagnostic(locate(src, path), 'wrong-type', `wrong value for ${where} (got ${describeValue(value)})`, {
        expected,
        hint: (typeof value === 'string' ? didYouMean(value, allowed) : undefined) ?? asMap,
      });
    }
    case 'minLength':
    case 'minItems':
    case 'minProperties':
      return diagnostic(locate(src, path), 'empty-value', `${where} must not be empty`, { expected: describeSchema(root, parent) });
    case 'minimum':
      return diagnostic(locate(src, path), 'out-of-range', `${where} ${e.message ?? 'is out of range'}`);
    default:
      return diagnostic(locate(src, path), 'invalid-value', `${where} ${e.message ?? 'is invalid'}`);
  }
}
