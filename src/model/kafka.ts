/**
 * Virtual columns of the Kafka engine (ClickHouse 26.7), as
 * `DESCRIBE t SETTINGS describe_include_virtual_columns = 1` reports them.
 * test/model/kafka.test.ts checks this table against the embedded engine.
 * `_raw_message` and `_error` exist only with kafka_handle_error_mode = 'stream'.
 */
export const KAFKA_VIRTUAL_COLUMNS: Readonly<Record<string, string>> = Object.freeze({
  _topic: 'LowCardinality(String)',
  _key: 'String',
  _offset: 'UInt64',
  _partition: 'UInt64',
  _timestamp: 'Nullable(DateTime)',
  _timestamp_ms: 'Nullable(DateTime64(3))',
  '_headers.name': 'Array(String)',
  '_headers.value': 'Array(String)',
  _table: 'LowCardinality(String)',
});

export const KAFKA_STREAM_VIRTUAL_COLUMNS: Readonly<Record<string, string>> = Object.freeze({
  _raw_message: 'String',
  _error: 'String',
});

/** Settings chpipe derives from pipeline keys; setting them by hand is refused. */
export const KAFKA_SETTINGS_FROM_KEYS: Readonly<Record<string, string>> = Object.freeze({
  kafka_broker_list: 'brokers',
  kafka_topic_list: 'topic / topics',
  kafka_group_name: 'group',
  kafka_format: 'format',
  kafka_num_consumers: 'consumers',
  kafka_handle_error_mode: 'on_error',
  kafka_schema: 'schema',
  format_avro_schema_registry_url: 'schema_registry',
});

/** How many broken messages per block `on_error: skip` tolerates (kafka_skip_broken_messages). */
export const SKIP_BROKEN_MESSAGES_DEFAULT = 65536;

/** Formats that need a schema file (kafka_schema). */
export const SCHEMA_FILE_FORMATS: ReadonlySet<string> = new Set(['Protobuf', 'ProtobufSingle', 'ProtobufList', 'CapnProto']);
