// Validate an OpenClaw config file with OpenClaw's own loader: JSON5, ${VAR}
// substitution, the strict schema and the plugin checks, exactly as the
// gateway does before it starts. Nothing is written and nothing is dialled.
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
const dist = path.join(pkg, "dist");
// The bundle's chunk names carry hashes; find the one that exports the loader.
let load;
for (const chunk of fs.readdirSync(dist).filter((f) => /^config-.*\.js$/.test(f)).sort()) {
  const m = fs.readFileSync(path.join(dist, chunk), "utf8").match(/export \{[^}]*\breadConfigFileSnapshot as (\w+)/);
  if (m) { load = (await import(pathToFileURL(path.join(dist, chunk)).href))[m[1]]; break; }
}
if (!load) fail(`readConfigFileSnapshot is not exported under ${dist}`);

const version = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")).version;
const snap = await load();
if (snap.path !== file) fail(`openclaw loaded ${snap.path}, not ${file}`);
const line = (i) => `  - ${i.path || "<root>"}: ${i.message}`;
console.log(`openclaw ${version}: ${file}`);
for (const w of snap.warnings ?? []) console.log(`warning\n${line(w)}`);
if (!snap.valid) {
  console.log(`invalid (${snap.issues.length}):`);
  snap.issues.forEach((i) => console.log(line(i)));
  process.exit(1);
}
console.log("valid");
