// tml over https: the certificate is verified against Node's CA store, which NODE_EXTRA_CA_CERTS
// extends. The switchboard here is the fake one behind a TLS front with a self-signed certificate.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { program, testWith } from '../helpers/tools.js';
import { FakeSwitchboard, jobStatus } from './fake-switchboard.js';
import { makeHome, runTml, type Result } from './spawn.js';

const test = testWith(program('openssl', 'openssl'));
const JOB = '6f1c3a52-8f2e-4c55-9a57-0d7c2a0e9b11';

/** Runs `tml job status` against an https front of a fake switchboard, with `env` added. */
async function statusOverTls(env: (cert: string) => Record<string, string>): Promise<{ r: Result; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tml-tls-'));
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const sb = await FakeSwitchboard.start();
  sb.addJob(jobStatus(JOB));
  const front = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    const back = http.request(`${sb.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    req.pipe(back);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(front.address() as AddressInfo).port}`;
  const home = makeHome();
  try {
    const r = await runTml(['job', 'status', JOB], home, {
      env: { TML_SWITCHBOARD_URL: url, TML_API_TOKEN: sb.newToken(), ...env(cert) },
    });
    return { r, url };
  } finally {
    front.closeAllConnections();
    await new Promise((resolve) => front.close(resolve));
    await sb.close();
    home.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an https switchboard whose CA is in NODE_EXTRA_CA_CERTS answers', async (t) => {
  const { r } = await statusOverTls((cert) => ({ NODE_EXTRA_CA_CERTS: cert }));
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`^job +${JOB}$`, 'm'));
});

test('an https switchboard with a certificate no CA vouches for is refused in one line', async (t) => {
  const { r, url } = await statusOverTls(() => ({}));
  t.is(r.status, 1);
  t.is(r.stderr, `tml: cannot reach the switchboard at ${url}: DEPTH_ZERO_SELF_SIGNED_CERT\n`);
});
