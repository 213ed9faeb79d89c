/**
 * TLS in front of a plain-HTTP ClickHouse for the tests: a self-signed
 * certificate made with openssl (valid for 127.0.0.1 and localhost) and a
 * small Node https server in this process that forwards every request to the
 * server. `close()` stops it and removes the certificate's temp dir.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SelfSignedCert {
  readonly dir: string;
  /** PEM file of the certificate, which is its own CA: what CHPIPE_CA_FILE names. */
  readonly certFile: string;
  readonly keyFile: string;
}

export function selfSignedCert(): SelfSignedCert {
  const dir = mkdtempSync(join(tmpdir(), 'chpipe-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=chpipe-test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile],
    { encoding: 'utf8' },
  );
  if (r.error || r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`openssl could not make a self-signed certificate (${r.error ? r.error.message : `exit ${r.status}`}): ${r.stderr}`);
  }
  return { dir, certFile, keyFile };
}

export interface TlsProxy {
  /** `https://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly cert: SelfSignedCert;
  close(): Promise<void>;
}

/** An https server on a free loopback port that forwards to `upstreamPort` on 127.0.0.1 (plain http). */
export async function startTlsProxy(upstreamPort: number): Promise<TlsProxy> {
  const cert = selfSignedCert();
  const server: Server = createServer({ key: readFileSync(cert.keyFile), cert: readFileSync(cert.certFile) }, (req, res) => {
    const up = httpRequest({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
  });
  // A client that gives up on our certificate resets the handshake: not an error of the proxy.
  server.on('tlsClientError', () => {});
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    cert,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      rmSync(cert.dir, { recursive: true, force: true });
    },
  };
}
