/** The apply suite over HTTP, on `chpipe serve` (the embedded engine behind ClickHouse's HTTP interface). */
import { describeApplySuite } from './apply.suite.js';

describeApplySuite('http');
