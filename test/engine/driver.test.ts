import { describe, expect, it } from 'vitest';
import { useScratchEngine } from '../helpers/engine.js';
import { EngineError, parseEngineMessage } from '../../src/engine/driver.js';

describe('parseEngineMessage', () => {
  it('strips the prefixes, takes the code name and turns "Maybe you meant" into a hint', () => {
    expect(parseEngineMessage("Query failed: Code: 46. DB::Exception: Function with name `avgg` does not exist. In scope SELECT avgg(1). Maybe you meant: ['avg2','avg']. (UNKNOWN_FUNCTION)")).toEqual({
      message: 'Function with name `avgg` does not exist',
      codeName: 'UNKNOWN_FUNCTION',
      hint: 'did you mean "avg2" or "avg"?',
    });
  });

  it('finds the hint before the scope and drops the version suffix', () => {
    expect(parseEngineMessage("Code: 50. DB::Exception: Unknown data type family: Int3. Maybe you meant: ['Int8','Int32']: In scope SELECT CAST('a', 'Int3'). (UNKNOWN_TYPE) (version 26.7.1.1)")).toEqual({
      message: 'Unknown data type family: Int3',
      codeName: 'UNKNOWN_TYPE',
      hint: 'did you mean "Int8" or "Int32"?',
    });
  });

  it('a single suggestion', () => {
    expect(parseEngineMessage("Code: 47. DB::Exception: Unknown identifier `tme`. Maybe you meant: ['time']. (UNKNOWN_IDENTIFIER)").hint).toBe('did you mean "time"?');
  });

  it('no hint without a suggestion', () => {
    expect(parseEngineMessage("Query failed: Code: 42. DB::Exception: Required parameter 'kafka_group_name' for storage Kafka not specified. (NUMBER_OF_ARGUMENTS_DOESNT_MATCH)")).toEqual({
      message: "Required parameter 'kafka_group_name' for storage Kafka not specified",
      codeName: 'NUMBER_OF_ARGUMENTS_DOESNT_MATCH',
    });
  });

  it('shortens the list of expected tokens of a syntax error', () => {
    const parsed = parseEngineMessage('Query failed: Code: 62. DB::Exception: Syntax error: failed at position 7 (1): 1. Expected one of: token sequence, Dot, token, OR, AND, IS NOT DISTINCT FROM, IS DISTINCT FROM, BETWEEN, NOT BETWEEN, LIKE. (SYNTAX_ERROR)');
    expect(parsed.codeName).toBe('SYNTAX_ERROR');
    expect(parsed.message).toMatch(/^Syntax error\b/);
    expect(parsed.message).toContain('Expected one of: token sequence, Dot, token, OR, AND, ...');
    expect(parsed.message).not.toContain('BETWEEN');
  });

  it('keeps a message it does not recognize', () => {
    expect(parseEngineMessage('something odd')).toEqual({ message: 'something odd' });
  });
});

describe('EngineError from the embedded engine', () => {
  const driver = useScratchEngine();

  it('carries the statement, the cleaned message, the code name and the hint', async () => {
    const error = await driver().query('SELECT avgg(1)').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ sql: 'SELECT avgg(1)', engineMessage: 'Function with name `avgg` does not exist', codeName: 'UNKNOWN_FUNCTION' });
    expect((error as EngineError).hint).toMatch(/"avg"/);
  });

  it('the same from a synchronous query', () => {
    let error: unknown;
    try {
      driver().querySync("SELECT CAST('1' AS Int3)");
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ engineMessage: 'Unknown data type family: Int3', codeName: 'UNKNOWN_TYPE' });
    expect((error as EngineError).hint).toMatch(/"Int32"/);
  });
});
