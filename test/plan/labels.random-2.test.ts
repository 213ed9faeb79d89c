/** The randomized label test, second half of the seeds (see labels.suite.ts). */
import { labelSuite } from './labels.suite.js';

labelSuite(1);
