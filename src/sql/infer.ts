/**
 * The questions `chpipe infer` and producer drift ask the engine about a
 * sample of messages, through the `format()` table function only: nothing is
 * created, nothing consumes. Pure.
 */
import { backquote, stringLiteral } from './quote.js';

/** The most sample text one question carries: the engine's max_query_size is 256 KiB, and escaping grows the text. */
export const SAMPLE_QUERY_BYTES = 160 * 1024;

/**
 * Schema inference over `data` in `format`: columns in the order the data
 * first shows them, with the engine's types; `Nullable` only where the data
 * holds a null (`schema_inference_make_columns_nullable = 'auto'`).
 */
export function describeSampleQuery(format: string, data: string): string {
  return [
    `DESCRIBE format(${format}, ${stringLiteral(data)})`,
    "SETTINGS schema_inference_make_columns_nullable = 'auto', describe_compact_output = 1,",
    'input_format_max_rows_to_read_for_schema_inference = 100000, input_format_max_bytes_to_read_for_schema_inference = 1048576',
  ].join(' ');
}

/** One row of `describeSampleQuery`. */
export interface DescribedColumn {
  readonly name: string;
  readonly type: string;
}

/**
 * Every value of `columns` read as text (`Nullable(String)`: NULL where the
 * data says null or lacks the field), one row per record: to find the empty
 * fields and the columns whose values are of more than one kind.
 */
export function sampleAsTextQuery(format: string, columns: readonly string[], data: string): string {
  const structure = columns.map((c) => `${backquote(c)} Nullable(String)`).join(', ');
  return `SELECT * FROM format(${format}, ${stringLiteral(structure)}, ${stringLiteral(data)}) SETTINGS input_format_json_read_numbers_as_strings = 1, input_format_json_read_bools_as_strings = 1, input_format_json_read_objects_as_strings = 1, input_format_json_read_arrays_as_strings = 1`;
}
