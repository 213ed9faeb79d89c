/** The randomized label test, first half of the seeds (see labels.suite.ts). */
import { labelSuite } from './labels.suite.js';

labelSuite(0);
