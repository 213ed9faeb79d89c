/**
 * ClickHouse's HTTP interface, as clients rely on it: which URL parameters
 * are the interface's own and which are settings, who may connect, how an
 * exception is sent (HTTP status, `X-ClickHouse-Exception-Code`, the
 * `Code: N. DB::Exception: … (NAME) (version X)` body), and the Content-Type
 * of each output format. Pure: a request's parts in, a typed call or refusal out.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { statementShape, STRING_ESCAPES } from '../sql/statement.js';

/** The exception codes this interface raises itself (numbers and names as the engine has them). */
export const CODES = {
  UNSUPPORTED_METHOD: 1,
  BAD_ARGUMENTS: 36,
  NOT_IMPLEMENTED: 48,
  SYNTAX_ERROR: 62,
  UNKNOWN_FORMAT: 73,
  UNKNOWN_COMPRESSION_METHOD: 89,
  UNKNOWN_SETTING: 115,
  CANNOT_DECOMPRESS: 271,
  INTO_OUTFILE_NOT_ALLOWED: 358,
  PATH_ACCESS_DENIED: 481,
  ACCESS_DENIED: 497,
  AUTHENTICATION_FAILED: 516,
  UNKNOWN_EXCEPTION: 1002,
} as const;

export type CodeName = keyof typeof CODES;

const NAME_OF = new Map<number, string>(Object.entries(CODES).map(([name, code]) => [code, name]));

/** The HTTP status a ClickHouse server answers an exception code with. */
export function httpStatusFor(code: number | undefined): number {
  if (code === undefined) return 500;
  if (UNAUTHORIZED.has(code)) return 401;
  if (code === 497) return 403;
  if (BAD_REQUEST.has(code)) return 400;
  if (NOT_FOUND.has(code)) return 404;
  if (code === 229) return 413; // QUERY_IS_TOO_LARGE
  if (code === 48) return 501; // NOT_IMPLEMENTED
  if (code === 209 || code === 76) return 503; // SOCKET_TIMEOUT, CANNOT_OPEN_FILE
  if (code === 381) return 411; // HTTP_LENGTH_REQUIRED
  if (code === 159) return 408; // TIMEOUT_EXCEEDED
  return 500;
}

// REQUIRED_PASSWORD, UNKNOWN_USER, WRONG_PASSWORD, AUTHENTICATION_FAILED, SET_NON_GRANTED_ROLE
const UNAUTHORIZED = new Set([194, 192, 193, 516, 512]);
// BAD_ARGUMENTS, CANNOT_COMPILE_REGEXP, CANNOT_PARSE_TEXT, …_ESCAPE_SEQUENCE, …_QUOTED_STRING, …_DATE, …_DATETIME,
// …_NUMBER, …_DOMAIN_VALUE_FROM_STRING, …_IPV4, …_IPV6, …_INPUT_ASSERTION_FAILED, …_UUID, DUPLICATE_COLUMN,
// ILLEGAL_COLUMN, UNKNOWN_ELEMENT_IN_AST, UNKNOWN_TYPE_OF_AST_NODE, THERE_IS_NO_COLUMN, TOO_DEEP_AST, TOO_BIG_AST,
// UNEXPECTED_AST_STRUCTURE, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE, SYNTAX_ERROR, INCORRECT_DATA, TYPE_MISMATCH
const BAD_REQUEST = new Set([36, 427, 6, 25, 26, 38, 41, 72, 441, 675, 676, 27, 376, 15, 44, 37, 123, 8, 167, 168, 223, 321, 62, 117, 53]);
// UNKNOWN_TABLE, UNKNOWN_FUNCTION, UNKNOWN_IDENTIFIER, UNKNOWN_TYPE, UNKNOWN_STORAGE, UNKNOWN_DATABASE, UNKNOWN_SETTING,
// UNKNOWN_DIRECTION_OF_SORTING, UNKNOWN_AGGREGATE_FUNCTION, UNKNOWN_FORMAT, UNKNOWN_DATABASE_ENGINE, UNKNOWN_TYPE_OF_QUERY
const NOT_FOUND = new Set([60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78]);

/** An exception as a server sends it: its code and its full text (`Code: N. DB::Exception: … (NAME) (version X)`). */
export interface ServerException {
  readonly code: number | undefined;
  readonly text: string;
}

/** An exception this interface raises, worded as the server words it. */
export function exception(name: CodeName, message: string, version: string): ServerException {
  const code = CODES[name];
  return { code, text: `Code: ${code}. DB::Exception: ${message}. (${NAME_OF.get(code)}) (version ${version})` };
}

/** An exception the engine raised: its text, with the version a server appends. */
export function engineException(code: number | undefined, error: string, version: string): ServerException {
  const text = error.trim();
  return { code, text: /\(version [^)]*\)\.?$/.test(text) ? text : `${text} (version ${version})` };
}

/** Parameters that are the HTTP interface's own; every other one is a setting (or, `param_*`, a query parameter). */
const OWN_PARAMETERS = new Set([
  'query',
  'database',
  'default_format',
  'query_id',
  'session_id',
  'session_timeout',
  'session_check',
  'close_session',
  'user',
  'password',
  'quota_key',
  'role',
  'compress',
  'decompress',
  'enable_http_compression',
  'http_zlib_compression_level',
  'stacktrace',
  'buffer_size',
  'wait_end_of_query',
  'client_protocol_version',
]);

const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What a request asks, once its body is read and decoded. */
export interface HttpRequestParts {
  readonly method: string;
  readonly path: string;
  readonly params: URLSearchParams;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** A statement to run, with everything the interface read around it. */
export interface QueryCall {
  readonly kind: 'query';
  readonly sql: string;
  /** The output format asked for (`default_format`, else TabSeparated); a FORMAT clause wins. */
  readonly defaultFormat: string;
  /** The format the answer is in: the FORMAT clause's, else `defaultFormat`. */
  readonly format: string;
  readonly database?: string;
  readonly settings: Readonly<Record<string, string>>;
  readonly params: Readonly<Record<string, string>>;
  /** GET: read-only, as a server runs it (readonly = 2). */
  readonly readonly: boolean;
  readonly queryId?: string;
  /** An INSERT whose inline data is empty: nothing to run (a server inserts no rows and says nothing). */
  readonly emptyInsert: boolean;
  /** `enable_http_compression=1`: compress the answer if the client accepts it. */
  readonly compressionEnabled: boolean;
}

export type HttpCall = { readonly kind: 'ok' } | QueryCall | { readonly kind: 'refused'; readonly exception: ServerException; readonly queryId?: string };

function header(parts: HttpRequestParts, name: string): string | undefined {
  const value = parts.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Who is asking: user `default` with the server's password (empty unless
 * `serve --password`), by Basic auth, the `X-ClickHouse-User`/`-Key` headers
 * or the user/password parameters (mixing them is refused, as a server does);
 * anything else is AUTHENTICATION_FAILED.
 */
function authenticate(parts: HttpRequestParts, version: string, expected: string): ServerException | undefined {
  const headerUser = header(parts, 'x-clickhouse-user') ?? '';
  const headerKey = header(parts, 'x-clickhouse-key') ?? '';
  const authorization = header(parts, 'authorization');
  const inParams = parts.params.has('user') || parts.params.has('password') || parts.params.has('quota_key');
  let user: string;
  let password: string;
  if (headerUser || headerKey) {
    if (authorization !== undefined) return exception('AUTHENTICATION_FAILED', 'Invalid authentication: it is not allowed to use X-ClickHouse HTTP headers and Authorization HTTP header simultaneously', version);
    if (inParams) return exception('AUTHENTICATION_FAILED', 'Invalid authentication: it is not allowed to use X-ClickHouse HTTP headers and authentication via parameters simultaneously', version);
    user = headerUser || 'default';
    password = headerKey;
  } else if (authorization !== undefined) {
    if (inParams) return exception('AUTHENTICATION_FAILED', 'Invalid authentication: it is not allowed to use Authorization HTTP header and authentication via parameters simultaneously', version);
    const [scheme = '', ...rest] = authorization.trim().split(/\s+/);
    if (scheme.toLowerCase() !== 'basic') return exception('AUTHENTICATION_FAILED', `Invalid authentication: '${scheme}' HTTP Authorization scheme is not supported`, version);
    const decoded = Buffer.from(rest.join(''), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    user = colon < 0 ? decoded : decoded.slice(0, colon);
    password = colon < 0 ? '' : decoded.slice(colon + 1);
  } else {
    user = parts.params.get('user') ?? 'default';
    password = parts.params.get('password') ?? '';
  }
  if (user === 'default' && samePassword(password, expected)) return undefined;
  // Like a server, the answer does not say whether the user exists; the password is never repeated.
  return exception('AUTHENTICATION_FAILED', `${user}: Authentication failed: password is incorrect, or there is no user with such name`, version);
}

/** Compared in constant time, so the answer's timing says nothing about how much of a password was right. */
function samePassword(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** A `param_*` value as sent (escaped as in TabSeparated), back to the value it stands for. */
export function unescapeParam(value: string): string {
  return value.replace(/\\(.)/gs, (_all, ch: string) => STRING_ESCAPES[ch] ?? ch);
}

/**
 * Read a request: a health check, a statement to run, or a refusal worded as
 * a server's (authentication, a multi-statement, an empty query, …).
 */
export function readHttpCall(parts: HttpRequestParts, version: string, password = ''): HttpCall {
  const { params } = parts;
  const queryId = params.get('query_id') ?? header(parts, 'x-clickhouse-query-id');
  const refuse = (e: ServerException): HttpCall => ({ kind: 'refused', exception: e, ...(queryId ? { queryId } : {}) });
  const queryParam = params.get('query') ?? '';
  // A server answers `GET /` without a query like /ping; so do clients' health checks.
  if ((parts.method === 'GET' || parts.method === 'HEAD') && queryParam === '' && parts.body === '') return { kind: 'ok' };
  const auth = authenticate(parts, version, password);
  if (auth) return refuse(auth);
  if (params.get('compress') === '1' || params.get('decompress') === '1') {
    return refuse(exception('NOT_IMPLEMENTED', "ClickHouse's internal compression (compress=1, decompress=1) is not supported by chpipe serve; use enable_http_compression=1 with Accept-Encoding: gzip instead", version));
  }
  const contentType = header(parts, 'content-type') ?? '';
  if (contentType.startsWith('multipart/form-data')) {
    return refuse(exception('NOT_IMPLEMENTED', 'external data and multipart requests are not supported by chpipe serve; send the query in the URL or the body', version));
  }
  const settings: Record<string, string> = {};
  const queryParams: Record<string, string> = {};
  for (const [name, value] of params) {
    if (name === '' || OWN_PARAMETERS.has(name)) continue;
    if (name.startsWith('param_')) {
      queryParams[name.slice('param_'.length)] = unescapeParam(value);
      continue;
    }
    if (!SETTING_NAME.test(name)) return refuse(exception('UNKNOWN_SETTING', `Unknown setting '${name}'`, version));
    settings[name] = value;
  }
  // The query is the `query` parameter, a line break and the body, as a server reads it (an INSERT's data can follow in the body).
  const sql = queryParam === '' ? parts.body : `${queryParam}\n${parts.body}`;
  const shape = statementShape(sql);
  if (shape.empty) return refuse(exception('SYNTAX_ERROR', 'Empty query', version));
  if (shape.secondStatementAt !== undefined) {
    const at = shape.secondStatementAt;
    const rest = sql.slice(at, at + 100).split('\n')[0];
    return refuse(exception('SYNTAX_ERROR', `Syntax error (Multi-statements are not allowed): failed at position ${at + 1} (end of query): ${rest}. `, version));
  }
  if (shape.intoOutfile) return refuse(exception('INTO_OUTFILE_NOT_ALLOWED', 'INTO OUTFILE is not allowed', version));
  const defaultFormat = params.get('default_format') || header(parts, 'x-clickhouse-format') || 'TabSeparated';
  if (!SETTING_NAME.test(defaultFormat)) return refuse(exception('UNKNOWN_FORMAT', `Unknown format ${defaultFormat}`, version));
  const database = params.get('database') || header(parts, 'x-clickhouse-database') || undefined;
  return {
    kind: 'query',
    sql,
    defaultFormat,
    format: shape.insertData ? defaultFormat : (shape.format ?? defaultFormat),
    ...(database !== undefined ? { database } : {}),
    settings,
    params: queryParams,
    readonly: parts.method === 'GET' || parts.method === 'HEAD',
    ...(queryId ? { queryId } : {}),
    emptyInsert: shape.insertData?.blank === true,
    compressionEnabled: params.get('enable_http_compression') === '1' || params.get('enable_http_compression') === 'true',
  };
}

/** The Content-Type a server sends with a format's output. */
export function contentTypeFor(format: string): string {
  if (/^(TabSeparated|TSV)/.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  if (/^CSV/.test(format)) return `text/csv; charset=UTF-8; header=${/^CSVWithNames/.test(format) ? 'present' : 'absent'}`;
  if (/^(JSON|PrettyJSON|NDJSON)/.test(format) && /EachRow|Lines|NDJSON/.test(format)) return 'application/x-ndjson; charset=UTF-8';
  if (/^JSON/.test(format)) return 'application/json; charset=UTF-8';
  if (format === 'XML') return 'application/xml; charset=UTF-8';
  if (BINARY_FORMATS.has(format)) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

const BINARY_FORMATS = new Set([
  'Native',
  'RowBinary',
  'RowBinaryWithNames',
  'RowBinaryWithNamesAndTypes',
  'RowBinaryWithDefaults',
  'Parquet',
  'Arrow',
  'ArrowStream',
  'ORC',
  'Avro',
  'Protobuf',
  'ProtobufSingle',
  'ProtobufList',
  'CapnProto',
  'MsgPack',
  'BSONEachRow',
  'Npy',
]);
