CREATE DATABASE IF NOT EXISTS plant;

CREATE TABLE IF NOT EXISTS plant.`events`
(
    `event` LowCardinality(String),
    user_id UInt64,
    skus Array(String)
)
ENGINE = MergeTree
ORDER BY (`event`, user_id)
COMMENT '[chpipe:events/table]';

CREATE TABLE IF NOT EXISTS plant.hits_hourly_state
(
    page String,
    `hour` DateTime,
    hits UInt64,
    total_bytes UInt64,
    big UInt64
)
ENGINE = SummingMergeTree
ORDER BY (page, `hour`)
COMMENT '[chpipe:hits_hourly/state]';

CREATE TABLE IF NOT EXISTS plant.meters
(
    meter_id UInt64,
    kwh Float64
)
ENGINE = MergeTree
ORDER BY meter_id
COMMENT '[chpipe:meters/table]';

CREATE TABLE IF NOT EXISTS plant.meters_daily_errors
(
    received_at DateTime,
    topic LowCardinality(String),
    `partition` UInt64,
    `offset` UInt64,
    raw_message String,
    error String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (topic, `partition`, `offset`)
TTL received_at + toIntervalDay(30)
COMMENT '[chpipe:meters_daily/errors]';

CREATE TABLE IF NOT EXISTS plant.meters_daily_hub
(
    meter_id UInt64,
    unit String,
    reading Float64,
    `level` String,
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
COMMENT '[chpipe:meters_daily/hub]';

CREATE TABLE IF NOT EXISTS plant.meters_daily_state
(
    meter_id UInt64,
    total_kwh SimpleAggregateFunction(sum, Float64),
    readings AggregateFunction(count),
    units AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
ORDER BY meter_id
COMMENT '[chpipe:meters_daily/state]';

CREATE TABLE IF NOT EXISTS plant.meters_hourly_state
(
    meter_id UInt64,
    total_kwh Float64,
    readings UInt64
)
ENGINE = SummingMergeTree
ORDER BY meter_id
COMMENT '[chpipe:meters_hourly/state]';

CREATE TABLE IF NOT EXISTS plant.order_items
(
    order_id UInt64,
    customer_id UInt64,
    country LowCardinality(String),
    sku String,
    qty UInt32
)
ENGINE = MergeTree
ORDER BY (order_id, sku)
COMMENT '[chpipe:order_items/table]';

CREATE TABLE IF NOT EXISTS plant.sku_totals_state
(
    sku String,
    units SimpleAggregateFunction(sum, UInt64),
    orders AggregateFunction(uniq, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY sku
COMMENT '[chpipe:sku_totals/state]';

CREATE TABLE IF NOT EXISTS plant.users
(
    `id` UInt64,
    `name` String,
    _partition UInt64,
    _offset UInt64
)
ENGINE = ReplacingMergeTree(_offset)
ORDER BY `id`
COMMENT '[chpipe:users/table]';

CREATE TABLE IF NOT EXISTS plant.events_queue
(
    raw String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'raw-events',
    kafka_group_name = 'chpipe_plant_events',
    kafka_format = 'JSONAsString'
COMMENT '[chpipe:events/queue]';

CREATE TABLE IF NOT EXISTS plant.hits_hourly_queue
(
    page String,
    ts DateTime,
    bytes UInt64
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'hits',
    kafka_group_name = 'chpipe_plant_hits_hourly',
    kafka_format = 'JSONEachRow'
COMMENT '[chpipe:hits_hourly/queue]';

CREATE TABLE IF NOT EXISTS plant.meters_daily_queue
(
    meter_id UInt64,
    unit String,
    reading Float64,
    `level` String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'meters',
    kafka_group_name = 'meters_daily',
    kafka_format = 'JSONEachRow',
    kafka_handle_error_mode = 'stream'
COMMENT '[chpipe:meters_daily/queue]';

CREATE TABLE IF NOT EXISTS plant.meters_queue
(
    meter_id UInt64,
    unit String,
    reading Float64,
    `level` String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'meters',
    kafka_group_name = 'chpipe_plant_meters',
    kafka_format = 'JSONEachRow'
COMMENT '[chpipe:meters/queue]';

CREATE TABLE IF NOT EXISTS plant.order_items_queue
(
    order_id UInt64,
    customer Tuple(
    id UInt64,
    address Tuple(
        country String,
        zip String)),
    items Array(Tuple(
    sku String,
    qty UInt32))
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'orders',
    kafka_group_name = 'chpipe_plant_order_items',
    kafka_format = 'JSONEachRow'
COMMENT '[chpipe:order_items/queue]';

CREATE TABLE IF NOT EXISTS plant.sku_totals_queue
(
    order_id UInt64,
    items Array(Tuple(
    sku String,
    qty UInt32))
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'orders',
    kafka_group_name = 'sku_totals',
    kafka_format = 'JSONEachRow'
COMMENT '[chpipe:sku_totals/queue]';

CREATE TABLE IF NOT EXISTS plant.users_queue
(
    `id` UInt64,
    `name` String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
    kafka_topic_list = 'users',
    kafka_group_name = 'chpipe_plant_users',
    kafka_format = 'JSONEachRow'
COMMENT '[chpipe:users/queue]';

CREATE VIEW IF NOT EXISTS plant.hits_hourly
AS (SELECT
    page,
    `hour`,
    sum(hits) AS hits,
    sum(total_bytes) AS total_bytes,
    sum(big) AS big
FROM plant.hits_hourly_state
GROUP BY page, `hour`)
COMMENT '[chpipe:hits_hourly/view]';

CREATE VIEW IF NOT EXISTS plant.meters_daily
AS (SELECT
    meter_id,
    sum(total_kwh) AS total_kwh,
    countMerge(readings) AS readings,
    uniqMerge(units) AS units
FROM plant.meters_daily_state
GROUP BY meter_id)
COMMENT '[chpipe:meters_daily/view]';

CREATE VIEW IF NOT EXISTS plant.meters_hourly
AS (SELECT
    meter_id,
    sum(total_kwh) AS total_kwh,
    sum(readings) AS readings
FROM plant.meters_hourly_state
GROUP BY meter_id)
COMMENT '[chpipe:meters_hourly/view]';

CREATE VIEW IF NOT EXISTS plant.sku_totals
AS (SELECT
    sku,
    sum(units) AS units,
    uniqMerge(orders) AS orders
FROM plant.sku_totals_state
GROUP BY sku)
COMMENT '[chpipe:sku_totals/view]';

CREATE MATERIALIZED VIEW IF NOT EXISTS plant.events_mv
TO plant.`events`
AS (SELECT
    JSONExtractString(raw, 'event') AS `event`,
    JSONExtractUInt(raw, 'user', 'id') AS user_id,
    arrayMap(x -> JSONExtractString(x, 'sku'), JSONExtractArrayRaw(raw, 'items')) AS skus
FROM plant.events_queue
WHERE (JSONHas(raw, 'event')))
COMMENT '[chpipe:events/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS plant.hits_hourly_mv
TO plant.hits_hourly_state
AS (SELECT
    page,
    toStartOfHour(ts) AS `hour`,
    count() AS hits,
    sum(bytes) AS total_bytes,
    countIf(bytes > 1000) AS big
FROM plant.hits_hourly_queue
GROUP BY page, `hour`)
COMMENT '[chpipe:hits_hourly/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS plant.meters_daily_errors_mv
TO plant.meters_daily_errors
AS (SELECT
    now() AS received_at,
    _topic AS topic,
    _partition AS `partition`,
    _offset AS `offset`,
    _raw_message AS raw_message,
    _error AS error
FROM plant.meters_daily_hub
WHERE _error != '')
COMMENT '[chpipe:meters_daily/errors_mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS plant.meters_daily_mv
TO plant.meters_daily_state
AS (SELECT
    meter_id,
    sumSimpleState(kwh) AS total_kwh,
    countState() AS readings,
    uniqState(unit) AS units
FROM (
    SELECT
        if(unit = 'Wh', reading / 1000, reading) AS kwh,
        meter_id,
        unit,
        reading,
        `level`
    FROM plant.meters_daily_hub
    WHERE (level != 'debug') AND (_error = '')
)
GROUP BY meter_id)
COMMENT '[chpipe:meters_daily/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS plant.meters_hourly_mv
TO plant.meters_hourly_state
AS (SELECT
    meter_id,
    sum(kwh) AS total_kwh,
    count() AS readings
FROM plant.meters
WHERE (kwh > 0)
GROUP BY meter_id)
COMMENT '[chpipe:meters_hourly/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS plant.order_items_mv
TO plant.order_items
AS (SELECT
    order_id,
    tupleElement(customer, 'id') AS customer_id,
    tupleElement(tupleElement(customer, 'address'), 'country') AS country,
    tupleElement(items, 'sku') AS sku,
    tupleElement(items, 'qty') AS qty
FROM plant.order_items_queue
ARRAY JOIN items
WHERE (tupleElement(items, 'qty') > 0))
COMMENT '[chpipe:order_items/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS plant.sku_totals_mv
TO plant.sku_totals_state
AS (SELECT
    tupleElement(items, 'sku') AS sku,
    sumSimpleState(tupleElement(items, 'qty')) AS units,
    uniqState(order_id) AS orders
FROM plant.sku_totals_queue
ARRAY JOIN items
GROUP BY sku)
COMMENT '[chpipe:sku_totals/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS plant.users_mv
TO plant.users
AS (SELECT
    `id`,
    `name`,
    _partition,
    _offset
FROM plant.users_queue)
COMMENT '[chpipe:users/mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS plant.meters_daily_hub_mv
TO plant.meters_daily_hub
AS (SELECT
    meter_id,
    unit,
    reading,
    `level`,
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
FROM plant.meters_daily_queue)
COMMENT '[chpipe:meters_daily/hub_mv]';

CREATE MATERIALIZED VIEW IF NOT EXISTS plant.meters_mv
TO plant.meters
AS (SELECT
    meter_id,
    if(unit = 'Wh', reading / 1000, reading) AS kwh
FROM plant.meters_queue
WHERE (level != 'debug'))
COMMENT '[chpipe:meters/mv]';
