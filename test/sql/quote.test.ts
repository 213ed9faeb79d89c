import { describe, expect, it } from 'vitest';
import { useScratchEngine } from '../helpers/engine.js';
import { backquote, ident, isPlainIdentifier, qualified, settingLiteral, stringLiteral } from '../../src/sql/quote.js';

describe('ident', () => {
  it('leaves plain names bare', () => {
    for (const name of ['user_id', 'api_latency', '_x1', 'A', 'camelCase']) expect(ident(name)).toBe(name);
  });

  it('quotes keywords, in any case', () => {
    expect(ident('order')).toBe('`order`');
    expect(ident('ORDER')).toBe('`ORDER`');
    expect(ident('Select')).toBe('`Select`');
    expect(ident('partition')).toBe('`partition`');
    expect(ident('offset')).toBe('`offset`');
    expect(isPlainIdentifier('from')).toBe(false);
  });

  it('quotes unicode, `-`, spaces, dots, a leading digit and the empty name', () => {
    expect(ident('événement')).toBe('`événement`');
    expect(ident('日本')).toBe('`日本`');
    expect(ident('api-latency')).toBe('`api-latency`');
    expect(ident('two words')).toBe('`two words`');
    expect(ident('_headers.name')).toBe('`_headers.name`');
    expect(ident('1st')).toBe('`1st`');
    expect(ident('')).toBe('``');
  });

  it('escapes backquotes and backslashes inside the quotes', () => {
    expect(ident('a`b')).toBe('`a\\`b`');
    expect(backquote('a\\b')).toBe('`a\\\\b`');
    expect(backquote('tab\there')).toBe('`tab\\there`');
  });

  it('qualified quotes each part on its own', () => {
    expect(qualified('analytics', 'api_latency')).toBe('analytics.api_latency');
    expect(qualified('my-db', 'order')).toBe('`my-db`.`order`');
  });
});

describe('stringLiteral', () => {
  it('escapes quote, backslash, newline, carriage return, tab and NUL', () => {
    expect(stringLiteral("it's")).toBe("'it\\'s'");
    expect(stringLiteral('a\\b')).toBe("'a\\\\b'");
    expect(stringLiteral('line\nbreak')).toBe("'line\\nbreak'");
    expect(stringLiteral('cr\r')).toBe("'cr\\r'");
    expect(stringLiteral('a\tb')).toBe("'a\\tb'");
    expect(stringLiteral('nul\0')).toBe("'nul\\0'");
    expect(stringLiteral('')).toBe("''");
  });

  it('leaves backquotes and double quotes alone', () => {
    expect(stringLiteral('`x` "y"')).toBe("'`x` \"y\"'");
  });

  it('settingLiteral: numbers bare, strings quoted', () => {
    expect(settingLiteral(65536)).toBe('65536');
    expect(settingLiteral('stream')).toBe("'stream'");
  });
});

describe('round trip through the engine', () => {
  const driver = useScratchEngine();

  const awkward = ['order', 'événement', 'api-latency', '1st', 'a`b', 'back\\slash', "it's", 'tab\tand\nnewline', 'nul\0byte', '日本', 'plain'];

  it('a string literal reads back as the same string', async () => {
    const rows = await driver().query<{ v: string }>(`SELECT arrayJoin([${awkward.map(stringLiteral).join(', ')}]) AS v`);
    expect(rows.map((r) => r.v)).toEqual(awkward);
  });

  it('an identifier names a column exactly', async () => {
    const rows = await driver().query<{ name: string }>(`DESCRIBE (SELECT ${awkward.map((n, i) => `${i} AS ${ident(n)}`).join(', ')})`);
    expect(rows.map((r) => r.name)).toEqual(awkward);
  });
});
