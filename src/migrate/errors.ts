/** The errors of running migrations on a target that a user acts on: printed as one sentence, exit 1. */
/** A migration cannot run: the files, the environment or the target's history say no. One sentence. */
export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** A statement failed on the target: where, and the engine's words. */
export class MigrationFailed extends Error {
  constructor(
    readonly file: string,
    readonly version: string,
    /** 1-based */
    readonly statement: number,
    readonly statements: number,
    readonly line: number,
    readonly engineMessage: string,
    readonly hint?: string,
  ) {
    super(`${file}:${line}: statement ${statement} of ${statements} failed on the target: ${engineMessage}`);
    this.name = 'MigrationFailed';
  }
}
