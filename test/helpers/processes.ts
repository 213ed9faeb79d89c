/**
 * What the test harnesses that start servers share (the Kafka broker, Debian's
 * ClickHouse 18.16): a free loopback port, and the PID records that let a run
 * stop what a killed earlier run left behind.
 *
 * A record is a file named after the server's PID in the harness's `running/`
 * folder, holding `PID OWNER DIR`: the server, the test process that owns it,
 * and the folder the server runs in (its command line names it).
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1 (asked of the OS, then released). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Servers left running by a test run that was killed (SIGKILL leaves no chance
 * to clean up): stopped by their recorded PID, only when that process is still
 * the recorded server (its command line names the recorded folder) and its
 * owner is gone; the folder and the record are removed.
 */
export function reapLeftovers(records: string): void {
  if (!existsSync(records)) return;
  for (const f of readdirSync(records)) {
    const [pidText, owner, dir] = readFileSync(join(records, f), 'utf8').trim().split(' ');
    if (isAlive(Number(owner))) continue; // a test run still using its server
    const pid = Number(pidText);
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      // gone already
    }
    if (dir && cmdline.includes(dir)) process.kill(pid, 'SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
    rmSync(join(records, f), { force: true });
  }
}
