// A throwaway certificate authority for TLS tests, made with the openssl
// command at test time (no key is committed): a CA, a server certificate for
// 127.0.0.1 and localhost signed by it, and a client certificate for mutual
// TLS. Files are written to a temp directory so the CLI can be given paths.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';

export interface TestPki {
  dir: string;
  /** PEM contents. */
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** The same, as files. */
  caCertPath: string;
  clientCertPath: string;
  clientKeyPath: string;
  /** Removes the directory. */
  remove(): void;
}

/**
 * Why the TLS suites must skip (no openssl command), or false: give it as
 * node:test's `skip` option.
 */
export const TLS_SKIP: string | false =
  spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0
    ? false
    : 'openssl not found: install it (apt-get install openssl) to run the TLS tests';

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes a CA and two certificates signed by it (EC P-256 keys: fast to make). */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), 'loads-runner-pki-'));
  const key = (name: string): void =>
    openssl(dir, [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      name,
    ]);
  key('ca.key');
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-sha256',
    '-days',
    '2',
    '-subj',
    '/CN=loads-runner test CA',
    '-out',
    'ca.crt',
  ]);
  const signed = (name: string, subject: string, extensions: string): void => {
    key(`${name}.key`);
    openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
    writeFileSync(path.join(dir, `${name}.ext`), extensions);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ]);
  };
  signed(
    'server',
    '/CN=127.0.0.1',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  signed('client', '/CN=loads-runner test client', 'extendedKeyUsage=clientAuth\n');
  const read = (name: string): string => readFileSync(path.join(dir, name), 'utf8');
  return {
    dir,
    caCert: read('ca.crt'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    caCertPath: path.join(dir, 'ca.crt'),
    clientCertPath: path.join(dir, 'client.crt'),
    clientKeyPath: path.join(dir, 'client.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The example server three ways, with the PKI's certificate: HTTPS, mutual TLS, HTTP/2. */
export interface TlsSites {
  /** HTTPS (and wss://), HTTP/1.1 only. */
  site: ExampleServer;
  /** HTTPS that requires a client certificate signed by the PKI's CA. */
  mutual: ExampleServer;
  /** HTTP/2 with HTTP/1.1 fallback (no WebSockets). */
  h2site: ExampleServer;
  close(): Promise<void>;
}

export async function startTlsSites(pki: TestPki): Promise<TlsSites> {
  const tls = { key: pki.serverKey, cert: pki.serverCert };
  const [site, mutual, h2site] = await Promise.all([
    startExampleServer(0, tls),
    startExampleServer(0, { ...tls, ca: pki.caCert, requestCert: true }),
    startExampleServer(0, { ...tls, http2: true }),
  ]);
  return {
    site,
    mutual,
    h2site,
    close: async () => {
      await Promise.all([site.close(), mutual.close(), h2site.close()]);
    },
  };
}
