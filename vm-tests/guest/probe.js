// Run inside the gateway container by the VM tests (`docker exec -i ...
// node -`), with Node because the real gateway image has it. PROBES is a
// JSON list of probes, each with an `id`; they run together, since under
// emulation one Node start costs seconds, and the results come back as one
// JSON object on stdout: id -> one-line result.
'use strict';
const net = require('net');

// CONNECT through Squid, on a plain socket (no HTTP agent between the probe
// and Squid): the status code of Squid's answer.
const connect = (p) => new Promise((done) => {
  const sock = net.connect({ host: p.proxy_host, port: Number(p.proxy_port) }, () => {
    sock.write(`CONNECT ${p.target} HTTP/1.1\r\nHost: ${p.target}\r\n\r\n`);
  });
  let head = '';
  sock.on('data', (d) => {
    head += d.toString('latin1');
    const line = head.split('\r\n')[0];
    if (head.includes('\r\n')) { sock.destroy(); done(line.split(' ')[1] || `unparsed ${line}`); }
  });
  sock.setTimeout(90000, () => { sock.destroy(); done('timeout'); });
  sock.on('error', (e) => done(`error ${e.code || e.message}`));
});

// A direct TCP connection, bypassing the proxy.
const tcp = (p) => new Promise((done) => {
  const sock = net.connect({ host: p.host, port: Number(p.port) });
  sock.setTimeout(10000, () => { sock.destroy(); done('timeout'); });
  sock.on('connect', () => { sock.destroy(); done('connected'); });
  sock.on('error', (e) => done(`error ${e.code || e.message}`));
});

// An HTTP request: its status code. `bearer_from` names the environment
// variable that holds the token, so no secret passes through the harness.
const request = (p) => {
  const headers = p.bearer_from ? { authorization: `Bearer ${process.env[p.bearer_from]}` } : {};
  return fetch(p.url, { method: p.method || 'GET', headers, signal: AbortSignal.timeout(15000) })
    .then((r) => String(r.status), (e) => `error ${e.cause ? e.cause.code : e.message}`);
};

const kinds = { connect, tcp, http: request };
const probes = JSON.parse(process.env.PROBES || '[]');
Promise.all(probes.map((p) => (kinds[p.kind] ? kinds[p.kind](p) : Promise.resolve(`unknown probe kind ${p.kind}`))))
  .then((results) => {
    const out = {};
    probes.forEach((p, i) => { out[p.id] = results[i]; });
    console.log(JSON.stringify(out));
    process.exit(0);
  });
