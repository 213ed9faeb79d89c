/** The run's ClickHouse 18.16 server (started by test/server/global-setup.ts), for the files under test/server/. */
import { inject } from 'vitest';

export interface ProvidedServer {
  /** `http://127.0.0.1:PORT`, no credentials. */
  readonly url: string;
  readonly httpPort: number;
  readonly tcpPort: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's ClickHouse 18.16 server (only for files under test/server/). */
    clickhouse18: ProvidedServer;
  }
}

export function clickhouse18(): ProvidedServer {
  const server = inject('clickhouse18');
  if (!server) throw new Error('no ClickHouse 18.16 server in this test run: tests that need one live under test/server/, whose vitest project starts it');
  return server;
}
