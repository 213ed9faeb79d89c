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
    // print_pretty_type_names = 0: a nested type on one line (`Array(Tuple(qty Int64, sku String))`), as a YAML value must be.
    "SETTINGS schema_inference_make_columns_nullable = 'auto', describe_compact_output = 1, print_pretty_type_names = 0,",
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

/**
 * Bytes as a string literal: printable ASCII as it is, every other byte (and
 * the quote and backslash) as `\xHH`, so binary data (Avro) reaches the engine
 * unchanged whatever carries the query text.
 */
export function bytesLiteral(bytes: Uint8Array): string {
  let out = "'";
  for (const b of bytes) {
    if (b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}'`;
}

/** The text `bytesLiteral` makes of `bytes`, in characters, without making it. */
export function bytesLiteralLength(bytes: Uint8Array): number {
  let n = 2;
  for (const b of bytes) n += b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c ? 1 : 4;
  return n;
}

const registrySetting = (url: string) => `format_avro_schema_registry_url = ${stringLiteral(url)}`;

/**
 * The columns of Confluent-framed Avro messages (magic byte 0, a 4-byte schema
 * id, the Avro body; concatenated): the engine fetches the writer's schema
 * from the registry by the first message's id and maps its Avro types.
 */
export function describeAvroConfluentQuery(data: Uint8Array, registry: string): string {
  return `DESCRIBE format(AvroConfluent, ${bytesLiteral(data)}) SETTINGS ${registrySetting(registry)}, describe_compact_output = 1`;
}

/** Every row of Confluent-framed Avro messages, decoded by the engine (to count nulls and empty values). */
export function selectAvroConfluentQuery(data: Uint8Array, registry: string): string {
  return `SELECT * FROM format(AvroConfluent, ${bytesLiteral(data)}) SETTINGS ${registrySetting(registry)}`;
}
