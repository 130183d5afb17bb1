// Run inside the gateway container by the VM tests (`docker exec -i ...
// node -`), with Node because the real gateway image has it. PROBES is a
// JSON list of probes, each with an `id`; they run together, since under
// emulation one Node start costs seconds, and the results come back as one
// JSON object on stdout: id -> one-line result.
'use strict';
const http = require('http');
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

// The Docker API through the socket proxy, as the gateway reaches it: one
// request, answered `<status> <first line of the body>`. DOCKER_PROXY
// (host:port) points elsewhere for the harness's own test of this file.
const [proxyHost, proxyPort] = (process.env.DOCKER_PROXY || 'docker-proxy:2375').split(':');
const dockerApi = (method, path, body) => new Promise((done) => {
  const req = http.request({
    host: proxyHost, port: Number(proxyPort), method, path,
    headers: body == null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    timeout: 60000,
  }, (res) => {
    let text = '';
    res.on('data', (d) => { text += d; });
    res.on('end', () => done({ status: res.statusCode, text }));
  });
  req.on('timeout', () => { req.destroy(); done({ status: 0, text: 'timeout' }); });
  req.on('error', (e) => done({ status: 0, text: `error ${e.code || e.message}` }));
  if (body != null) req.write(body);
  req.end();
});
const docker = (p) => dockerApi(p.method, p.path, p.body)
  .then((r) => `${r.status} ${r.text.split('\n')[0]}`);

// `docker exec`'s stream: the start request upgraded to a raw socket, as the
// CLI does it; what the command printed (the 8-byte frame headers dropped).
const execStream = (id) => new Promise((done) => {
  const sock = net.connect({ host: proxyHost, port: Number(proxyPort) }, () => {
    const body = '{"Detach":false,"Tty":false}';
    sock.write(`POST /v1.41/exec/${id}/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n`
      + `Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
  let raw = Buffer.alloc(0);
  sock.on('data', (d) => { raw = Buffer.concat([raw, d]); });
  sock.setTimeout(60000, () => sock.destroy());
  const finish = () => {
    const at = raw.indexOf('\r\n\r\n');
    const head = raw.slice(0, Math.max(at, 0)).toString('latin1').split('\r\n')[0];
    let rest = at < 0 ? Buffer.alloc(0) : raw.slice(at + 4);
    let out = '';
    while (rest.length >= 8) {
      const n = rest.readUInt32BE(4);
      out += rest.slice(8, 8 + n).toString();
      rest = rest.slice(8 + n);
    }
    done({ head, out });
  };
  sock.on('close', finish);
  sock.on('error', () => {});
});

// OpenClaw's sandbox lifecycle on the real daemon, through the policy:
// create (the body the CLI sends), start, exec with its upgraded stream,
// the exit code, logs, remove. `ok ...` or the step that failed.
const lifecycle = async (p) => {
  const c = `/v1.41/containers/${p.name}`;
  const step = async (what, method, path, body, want) => {
    const r = await dockerApi(method, path, body);
    if (!want.includes(r.status)) throw new Error(`${what}: ${r.status} ${r.text.split('\n')[0]}`);
    return r.text;
  };
  try {
    await dockerApi('DELETE', `${c}?force=1`);
    await step('create', 'POST', `/v1.41/containers/create?name=${p.name}`, JSON.stringify(p.create), [201]);
    await step('start', 'POST', `${c}/start`, undefined, [204]);
    const exec = JSON.parse(await step('exec', 'POST', `${c}/exec`, JSON.stringify({
      AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false,
      Cmd: ['sh', '-c', 'echo sandbox says hi; id -u; touch /workspace/probe && echo wrote'],
    }), [201]));
    const stream = await execStream(exec.Id);
    if (!stream.head.includes('101')) throw new Error(`exec start: ${stream.head}`);
    const state = JSON.parse(await step('exec inspect', 'GET', `/v1.41/exec/${exec.Id}/json`, undefined, [200]));
    await step('logs', 'GET', `${c}/logs?stdout=1&stderr=1`, undefined, [200]);
    await step('remove', 'DELETE', `${c}?force=1`, undefined, [204]);
    return `ok exit ${state.ExitCode}: ${stream.out.trim().split('\n').join(' / ')}`;
  } catch (e) {
    await dockerApi('DELETE', `${c}?force=1`);
    return `failed at ${e.message}`;
  }
};

const kinds = { connect, tcp, http: request, docker, lifecycle };
const probes = JSON.parse(process.env.PROBES || '[]');
Promise.all(probes.map((p) => (kinds[p.kind] ? kinds[p.kind](p) : Promise.resolve(`unknown probe kind ${p.kind}`))))
  .then((results) => {
    const out = {};
    probes.forEach((p, i) => { out[p.id] = results[i]; });
    console.log(JSON.stringify(out));
    process.exit(0);
  });
