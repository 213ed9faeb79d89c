CREATE DATABASE IF NOT EXISTS analytics ON CLUSTER prod;

CREATE TABLE IF NOT EXISTS analytics.api_latency_local ON CLUSTER prod
(
    api_id Int32,
    time_taken Int32
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')
ORDER BY api_id
COMMENT 'API response times [chpipe:api_latency/table_local]';

CREATE TABLE IF NOT EXISTS analytics.app_logs_errors_local ON CLUSTER prod
(
    received_at DateTime,
    topic LowCardinality(String),
    `partition` UInt64,
    `offset` UInt64,
    raw_message String,
    error String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')
PARTITION BY toYYYYMM(received_at)
ORDER BY (topic, `partition`, `offset`)
COMMENT 'Application logs [chpipe:app_logs/errors_local]';

CREATE TABLE IF NOT EXISTS analytics.app_logs_hub ON CLUSTER prod
(
    ts DateTime64(3),
    service LowCardinality(String),
    `level` LowCardinality(String),
    message String,
    `host` String,
    _topic LowCardinality(String),
    _key String,
    _offset UInt64,
    _partition UInt64,
    _timestamp Nullable(DateTime),
    _timestamp_ms Nullable(DateTime64(3)),
    `_headers.name` Array(String),
    `_headers.value` Array(String),
    _raw_message String,
    _error String
)
ENGINE = Null
COMMENT 'Application logs [chpipe:app_logs/hub]';

CREATE TABLE IF NOT EXISTS analytics.app_logs_local ON CLUSTER prod
(
    ts DateTime64(3),
    service LowCardinality(String),
    `level` LowCardinality(String),
    message String,
    `host` String,
    `day` Date,
    kafka_partition UInt64,
    kafka_offset UInt64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')
PARTITION BY day
ORDER BY (service, ts)
TTL day + INTERVAL 30 DAY
COMMENT 'Application logs [chpipe:app_logs/table_local]';

CREATE TABLE IF NOT EXISTS analytics.campaign_hourly_state_local ON CLUSTER prod
(
    campaign_id UInt32,
    `hour` DateTime,
    impressions AggregateFunction(countIf, UInt8),
    clicks AggregateFunction(countIf, UInt8),
    conversions AggregateFunction(countIf, UInt8),
    spend SimpleAggregateFunction(sum, Decimal(38, 4)),
    users AggregateFunction(uniq, String)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')
PARTITION BY toYYYYMM(hour)
ORDER BY (campaign_id, `hour`)
TTL hour + INTERVAL 400 DAY
COMMENT 'Hourly campaign performance [chpipe:campaign_hourly/state_local]';

CREATE TABLE IF NOT EXISTS analytics.errors_per_minute_state_local ON CLUSTER prod
(
    service LowCardinality(String),
    `minute` DateTime,
    errors AggregateFunction(countIf, UInt8),
    warnings AggregateFunction(countIf, UInt8),
    last_seen SimpleAggregateFunction(max, DateTime64(3))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')
ORDER BY (service, `minute`)
COMMENT 'Error and warning counts per service per minute [chpipe:errors_per_minute/state_local]';

CREATE TABLE IF NOT EXISTS analytics.sensor_5m_state_local ON CLUSTER prod
(
    device_id String,
    metric LowCardinality(String),
    bucket DateTime,
    readings AggregateFunction(count),
    avg_value AggregateFunction(avg, Float64),
    min_value SimpleAggregateFunction(min, Float64),
    max_value SimpleAggregateFunction(max, Float64),
    p95_value AggregateFunction(quantile(0.95), Float64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')
PARTITION BY toYYYYMM(bucket)
ORDER BY (device_id, metric, bucket)
COMMENT 'Sensor readings per device per 5 minutes [chpipe:sensor_5m/state_local]';

CREATE TABLE IF NOT EXISTS analytics.sensor_readings_local ON CLUSTER prod
(
    device_id String,
    metric LowCardinality(String),
    value Float64,
    measured_at DateTime,
    received_at DateTime
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', received_at)
PARTITION BY toYYYYMM(measured_at)
ORDER BY (device_id, metric, measured_at)
COMMENT 'Raw sensor readings [chpipe:sensor_readings/table_local]';

CREATE TABLE IF NOT EXISTS analytics.api_latency ON CLUSTER prod
(
    api_id Int32,
    time_taken Int32
)
ENGINE = Distributed('prod', 'analytics', 'api_latency_local', rand())
COMMENT 'API response times [chpipe:api_latency/table]';

CREATE TABLE IF NOT EXISTS analytics.app_logs ON CLUSTER prod
(
    ts DateTime64(3),
    service LowCardinality(String),
    `level` LowCardinality(String),
    message String,
    `host` String,
    `day` Date,
    kafka_partition UInt64,
    kafka_offset UInt64
)
ENGINE = Distributed('prod', 'analytics', 'app_logs_local', rand())
COMMENT 'Application logs [chpipe:app_logs/table]';

CREATE TABLE IF NOT EXISTS analytics.app_logs_errors ON CLUSTER prod
(
    received_at DateTime,
    topic LowCardinality(String),
    `partition` UInt64,
    `offset` UInt64,
    raw_message String,
    error String
)
ENGINE = Distributed('prod', 'analytics', 'app_logs_errors_local', rand())
COMMENT 'Application logs [chpipe:app_logs/errors]';

CREATE TABLE IF NOT EXISTS analytics.campaign_hourly_state ON CLUSTER prod
(
    campaign_id UInt32,
    `hour` DateTime,
    impressions AggregateFunction(countIf, UInt8),
    clicks AggregateFunction(countIf, UInt8),
    conversions AggregateFunction(countIf, UInt8),
    spend SimpleAggregateFunction(sum, Decimal(38, 4)),
    users AggregateFunction(uniq, String)
)
ENGINE = Distributed('prod', 'analytics', 'campaign_hourly_state_local', rand())
COMMENT 'Hourly campaign performance [chpipe:campaign_hourly/state]';

CREATE TABLE IF NOT EXISTS analytics.errors_per_minute_state ON CLUSTER prod
(
    service LowCardinality(String),
    `minute` DateTime,
    errors AggregateFunction(countIf, UInt8),
    warnings AggregateFunction(countIf, UInt8),
    last_seen SimpleAggregateFunction(max, DateTime64(3))
)
ENGINE = Distributed('prod', 'analytics', 'errors_per_minute_state_local', rand())
COMMENT 'Error and warning counts per service per minute [chpipe:errors_per_minute/state]';

CREATE TABLE IF NOT EXISTS analytics.sensor_5m_state ON CLUSTER prod
(
    device_id String,
    metric LowCardinality(String),
    bucket DateTime,
    readings AggregateFunction(count),
    avg_value AggregateFunction(avg, Float64),
    min_value SimpleAggregateFunction(min, Float64),
    max_value SimpleAggregateFunction(max, Float64),
    p95_value AggregateFunction(quantile(0.95), Float64)
)
ENGINE = Distributed('prod', 'analytics', 'sensor_5m_state_local', rand())
COMMENT 'Sensor readings per device per 5 minutes [chpipe:sensor_5m/state]';

CREATE TABLE IF NOT EXISTS analytics.sensor_readings ON CLUSTER prod
(
    device_id String,
    metric LowCardinality(String),
    value Float64,
    measured_at DateTime,
    received_at DateTime
)
ENGINE = Distributed('prod', 'analytics', 'sensor_readings_local', rand())
COMMENT 'Raw sensor readings [chpipe:sensor_readings/table]';

CREATE TABLE IF NOT EXISTS analytics.api_latency_queue ON CLUSTER prod
(
    api_id Int32,
    time_taken Int32
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'kafka_topic_1',
    kafka_group_name = 'chpipe_analytics_api_latency',
    kafka_format = 'CSV'
COMMENT 'API response times [chpipe:api_latency/queue]';

CREATE TABLE IF NOT EXISTS analytics.app_logs_queue ON CLUSTER prod
(
    ts DateTime64(3),
    service LowCardinality(String),
    `level` LowCardinality(String),
    message String,
    `host` String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'app-logs',
    kafka_group_name = 'chpipe_analytics_app_logs',
    kafka_format = 'JSONEachRow',
    kafka_handle_error_mode = 'stream'
COMMENT 'Application logs [chpipe:app_logs/queue]';

CREATE TABLE IF NOT EXISTS analytics.campaign_hourly_queue ON CLUSTER prod
(
    campaign_id UInt32,
    event_type LowCardinality(String),
    user_id String,
    cost Decimal(12, 4),
    event_time DateTime
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'campaign_events',
    kafka_group_name = 'chpipe_analytics_campaign_hourly',
    kafka_format = 'JSONEachRow',
    kafka_skip_broken_messages = 65536
COMMENT 'Hourly campaign performance [chpipe:campaign_hourly/queue]';

CREATE TABLE IF NOT EXISTS analytics.errors_per_minute_queue ON CLUSTER prod
(
    ts DateTime64(3),
    service LowCardinality(String),
    `level` LowCardinality(String)
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'app-logs',
    kafka_group_name = 'chpipe_analytics_errors_per_minute',
    kafka_format = 'JSONEachRow',
    kafka_skip_broken_messages = 65536
COMMENT 'Error and warning counts per service per minute [chpipe:errors_per_minute/queue]';

CREATE TABLE IF NOT EXISTS analytics.overheat_alerts_queue ON CLUSTER prod
(
    device_id String,
    value Float64,
    measured_at DateTime
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'sensor-alerts',
    kafka_group_name = 'chpipe_analytics_overheat_alerts',
    kafka_format = 'JSONEachRow'
COMMENT 'Overheating sensors, published for the on-call bot [chpipe:overheat_alerts/queue]';

CREATE TABLE IF NOT EXISTS analytics.sensor_5m_queue ON CLUSTER prod
(
    device_id String,
    metric LowCardinality(String),
    value Float64,
    measured_at DateTime
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'sensor-readings',
    kafka_group_name = 'chpipe_analytics_sensor_5m',
    kafka_format = 'JSONEachRow',
    kafka_num_consumers = 2
COMMENT 'Sensor readings per device per 5 minutes [chpipe:sensor_5m/queue]';

CREATE TABLE IF NOT EXISTS analytics.sensor_readings_queue ON CLUSTER prod
(
    device_id String,
    metric LowCardinality(String),
    value Float64,
    measured_at DateTime
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'sensor-readings',
    kafka_group_name = 'chpipe_analytics_sensor_readings',
    kafka_format = 'JSONEachRow'
COMMENT 'Raw sensor readings [chpipe:sensor_readings/queue]';

CREATE VIEW IF NOT EXISTS analytics.campaign_hourly ON CLUSTER prod
AS (SELECT
    campaign_id,
    `hour`,
    countIfMerge(impressions) AS impressions,
    countIfMerge(clicks) AS clicks,
    countIfMerge(conversions) AS conversions,
    sum(spend) AS spend,
    uniqMerge(users) AS users
FROM analytics.campaign_hourly_state
GROUP BY campaign_id, `hour`)
COMMENT 'Hourly campaign performance [chpipe:campaign_hourly/view]';

CREATE VIEW IF NOT EXISTS analytics.errors_per_minute ON CLUSTER prod
AS (SELECT
    service,
    `minute`,
    countIfMerge(errors) AS errors,
    countIfMerge(warnings) AS warnings,
    max(last_seen) AS last_seen
FROM analytics.errors_per_minute_state
GROUP BY service, `minute`)
COMMENT 'Error and warning counts per service per minute [chpipe:errors_per_minute/view]';

CREATE VIEW IF NOT EXISTS analytics.sensor_5m ON CLUSTER prod
AS (SELECT
    device_id,
    metric,
    bucket,
    countMerge(readings) AS readings,
    avgMerge(avg_value) AS avg_value,
    min(min_value) AS min_value,
    max(max_value) AS max_value,
    quantileMerge(0.95)(p95_value) AS p95_value
FROM analytics.sensor_5m_state
GROUP BY device_id, metric, bucket)
COMMENT 'Sensor readings per device per 5 minutes [chpipe:sensor_5m/view]';

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.api_latency_mv ON CLUSTER prod
TO analytics.api_latency_local
AS (SELECT
    api_id,
    time_taken
FROM analytics.api_latency_queue)
COMMENT 'API response times [chpipe:api_latency/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.app_logs_errors_mv ON CLUSTER prod
TO analytics.app_logs_errors_local
AS (SELECT
    now() AS received_at,
    _topic AS topic,
    _partition AS `partition`,
    _offset AS `offset`,
    _raw_message AS raw_message,
    _error AS error
FROM analytics.app_logs_hub
WHERE _error != '')
COMMENT 'Application logs [chpipe:app_logs/errors_mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.app_logs_mv ON CLUSTER prod
TO analytics.app_logs_local
AS (SELECT
    ts,
    service,
    `level`,
    message,
    `host`,
    toDate(ts) AS `day`,
    _partition AS kafka_partition,
    _offset AS kafka_offset
FROM analytics.app_logs_hub
WHERE (_error = ''))
COMMENT 'Application logs [chpipe:app_logs/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.campaign_hourly_mv ON CLUSTER prod
TO analytics.campaign_hourly_state_local
AS (SELECT
    campaign_id,
    toStartOfHour(event_time) AS `hour`,
    countIfState(event_type = 'impression') AS impressions,
    countIfState(event_type = 'click') AS clicks,
    countIfState(event_type = 'conversion') AS conversions,
    sumSimpleState(cost) AS spend,
    uniqState(user_id) AS users
FROM analytics.campaign_hourly_queue
GROUP BY campaign_id, `hour`)
COMMENT 'Hourly campaign performance [chpipe:campaign_hourly/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.errors_per_minute_mv ON CLUSTER prod
TO analytics.errors_per_minute_state_local
AS (SELECT
    service,
    toStartOfMinute(ts) AS `minute`,
    countIfState(level IN ('ERROR', 'FATAL')) AS errors,
    countIfState(level = 'WARN') AS warnings,
    maxSimpleState(ts) AS last_seen
FROM analytics.errors_per_minute_queue
WHERE (level IN ('ERROR', 'FATAL', 'WARN'))
GROUP BY service, `minute`)
COMMENT 'Error and warning counts per service per minute [chpipe:errors_per_minute/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.overheat_alerts_mv ON CLUSTER prod
TO analytics.overheat_alerts_queue
AS (SELECT
    device_id,
    value,
    measured_at
FROM analytics.sensor_readings_local
WHERE metric = 'temperature' AND value > 90)
COMMENT 'Overheating sensors, published for the on-call bot [chpipe:overheat_alerts/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.sensor_5m_mv ON CLUSTER prod
TO analytics.sensor_5m_state_local
AS (SELECT
    device_id,
    metric,
    toStartOfFiveMinutes(measured_at) AS bucket,
    countState() AS readings,
    avgState(value) AS avg_value,
    minSimpleState(value) AS min_value,
    maxSimpleState(value) AS max_value,
    quantileState(0.95)(value) AS p95_value
FROM analytics.sensor_5m_queue
WHERE (isFinite(value))
GROUP BY device_id, metric, bucket)
COMMENT 'Sensor readings per device per 5 minutes [chpipe:sensor_5m/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.app_logs_hub_mv ON CLUSTER prod
TO analytics.app_logs_hub
AS (SELECT
    ts,
    service,
    `level`,
    message,
    `host`,
    _topic,
    _key,
    _offset,
    _partition,
    _timestamp,
    _timestamp_ms,
    `_headers.name`,
    `_headers.value`,
    _raw_message,
    _error
FROM analytics.app_logs_queue)
COMMENT 'Application logs [chpipe:app_logs/hub_mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.sensor_readings_mv ON CLUSTER prod
TO analytics.sensor_readings_local
AS (SELECT
    device_id,
    metric,
    value,
    measured_at,
    _timestamp AS received_at
FROM analytics.sensor_readings_queue)
COMMENT 'Raw sensor readings [chpipe:sensor_readings/mv]';
