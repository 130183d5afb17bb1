// Validate an OpenClaw config file with OpenClaw's own loader: JSON5, ${VAR}
// substitution, the strict schema and the plugin checks, exactly as the
// gateway does before it starts. Nothing is dialled; 2026.9.6 creates its
// state database under OPENCLAW_STATE_DIR, which the caller makes a temp dir.
//
// usage: OPENCLAW_PKG=<node_modules/openclaw> node validate.mjs <config>
// exit:  0 valid, 1 invalid (issues on stdout), 2 cannot check
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const fail = (msg) => { console.error(msg); process.exit(2); };
const file = process.argv[2] ? path.resolve(process.argv[2]) : fail("usage: validate.mjs <config>");
if (!fs.existsSync(file)) fail(`no such file: ${file}`);
process.env.OPENCLAW_CONFIG_PATH = file;

const pkg = process.env.OPENCLAW_PKG ?? fail("set OPENCLAW_PKG to node_modules/openclaw");
const manifest = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8"));
const dist = path.join(pkg, "dist");
let load;
// Newer releases export the loader: `openclaw/plugin-sdk/health`.
const entry = manifest.exports?.["./plugin-sdk/health"];
const target = typeof entry === "string" ? entry : entry?.import ?? entry?.default;
if (target) {
  load = (await import(pathToFileURL(path.join(pkg, target)).href)).readConfigFileSnapshot;
}
// Older ones only bundle it: the chunk names carry hashes; find the one
// that exports it.
for (const chunk of load ? [] : fs.readdirSync(dist).filter((f) => /^config-.*\.m?js$/.test(f)).sort()) {
  const m = fs.readFileSync(path.join(dist, chunk), "utf8").match(/export \{[^}]*\breadConfigFileSnapshot as (\w+)/);
  if (m) { load = (await import(pathToFileURL(path.join(dist, chunk)).href))[m[1]]; break; }
}
if (!load) fail(`readConfigFileSnapshot is not exported under ${dist}`);

const version = manifest.version;
const snap = await load();
if (snap.path !== file) fail(`openclaw loaded ${snap.path}, not ${file}`);
const line = (i) => `  - ${i.path || "<root>"}: ${i.message}`;
console.log(`openclaw ${version}: ${file}`);
for (const w of snap.warnings ?? []) console.log(`warning\n${line(w)}`);
// Keys a newer release retired or moved (it would ask for `doctor --fix`,
// which cannot write a read-only config) count as issues too.
const issues = [...(snap.issues ?? []), ...(snap.legacyIssues ?? [])];
if (!snap.valid || issues.length > 0) {
  console.log(`invalid (${issues.length}):`);
  issues.forEach((i) => console.log(line(i)));
  process.exit(1);
}
console.log("valid");
