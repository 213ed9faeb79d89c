import { KEYWORDS } from './keywords.js';

const PLAIN_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True when `name` can stand unquoted in ClickHouse SQL. */
export function isPlainIdentifier(name: string): boolean {
  return PLAIN_IDENTIFIER.test(name) && !KEYWORDS.has(name.toLowerCase());
}

/** Backquote an identifier when it needs it: keywords, `-`, unicode, leading digits. */
export function ident(name: string): string {
  return isPlainIdentifier(name) ? name : backquote(name);
}

export function backquote(name: string): string {
  return '`' + escapeChars(name, '`') + '`';
}

/** `db.name`, each part quoted when needed. */
export function qualified(database: string, name: string): string {
  return `${ident(database)}.${ident(name)}`;
}

/** A ClickHouse string literal. */
export function stringLiteral(value: string): string {
  return "'" + escapeChars(value, "'") + "'";
}

function escapeChars(value: string, quote: string): string {
  let out = '';
  for (const ch of value) {
    switch (ch) {
      case '\\':
        out += '\\\\';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\0':
        out += '\\0';
        break;
      default:
        out += ch === quote ? '\\' + ch : ch;
    }
  }
  return out;
}

/** A setting value as SQL: numbers bare, strings quoted. */
export function settingLiteral(value: string | number): string {
  return typeof value === 'number' ? String(value) : stringLiteral(value);
}
