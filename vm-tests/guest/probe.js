// Run inside the gateway container by the VM tests (`docker exec -i ...
// node -`), with Node because the real gateway image has it. PROBE picks
// the test; the result is one line on stdout.
'use strict';
const http = require('http');
const net = require('net');
const env = process.env;
const done = (line) => { console.log(line); process.exit(0); };

if (env.PROBE === 'connect') {
  // CONNECT through Squid: prints Squid's status code.
  const req = http.request({ host: env.PROXY_HOST, port: Number(env.PROXY_PORT), method: 'CONNECT', path: env.TARGET });
  req.on('connect', (res) => done(String(res.statusCode)));
  req.on('response', (res) => done(String(res.statusCode)));
  req.on('error', (e) => done(`error ${e.code || e.message}`));
  req.setTimeout(90000, () => done('timeout'));
  req.end();
} else if (env.PROBE === 'tcp') {
  // A direct TCP connection, bypassing the proxy.
  const sock = net.connect({ host: env.HOST, port: Number(env.PORT) });
  sock.setTimeout(10000, () => done('timeout'));
  sock.on('connect', () => done('connected'));
  sock.on('error', (e) => done(`error ${e.code || e.message}`));
} else if (env.PROBE === 'http') {
  // An HTTP request: prints the status code.
  const headers = env.BEARER_FROM ? { authorization: `Bearer ${env[env.BEARER_FROM]}` } : {};
  fetch(env.URL, { method: env.METHOD || 'GET', headers, signal: AbortSignal.timeout(15000) })
    .then((r) => done(String(r.status)), (e) => done(`error ${e.cause ? e.cause.code : e.message}`));
} else {
  done(`unknown PROBE ${env.PROBE}`);
}
