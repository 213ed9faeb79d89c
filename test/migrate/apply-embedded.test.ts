/** The apply suite on the embedded default target (`.chpipe/`, an engine process per command). */
import { describeApplySuite } from './apply.suite.js';

describeApplySuite('embedded');
