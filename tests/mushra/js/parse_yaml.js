// Reads YAML files with the exact reader webMUSHRA's page uses (yaml.js 0.3.0, dist/yaml.min.js, loaded the way
// a browser loads it: a script that sets window.YAML) and prints {path: {"ok": value} | {"error": message}} as JSON.
// Usage: node parse_yaml.js FILE...
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const bundle = path.join(__dirname, "node_modules", "yamljs", "dist", "yaml.min.js");
const sandbox = { window: {} };
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(bundle, "utf8"), sandbox, { filename: bundle });
const YAML = sandbox.window.YAML;

const out = {};
for (const file of process.argv.slice(2)) {
  try {
    out[file] = { ok: YAML.parse(fs.readFileSync(file, "utf8")) };
  } catch (err) {
    out[file] = { error: String((err && err.message) || err) };
  }
}
process.stdout.write(JSON.stringify(out));
