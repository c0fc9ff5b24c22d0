// Drives cmdsrv through node-hg's HGCommandServer, which spawns `hg` from
// PATH as `hg --config ui.interactive=True --config ui.merge=internal:fail
// serve --cmdserver pipe` (plus `--config ui.username=test` under
// NODE_ENV=test). Usage: node interop.js DIR. Prints one JSON object: the
// output and result of each command, then the server's exit code after
// SIGTERM (node-hg's child.kill()).
"use strict";
const HGCommandServer = require("hg").HGCommandServer;

const dir = process.argv[2];
const commands = [
  ["config", "ui.username"],
  ["config", "ui.interactive"],
  ["debugwritestdout"],
  ["echo", "after"],
  ["pwd"],
];
const report = { hello: null, commands: [], errors: [], exit: null, signal: null };

const server = new HGCommandServer();
let current = null;
server.on("output", (body) => { if (current) current.output += body; });
server.on("error", (err) => {
  const text = err instanceof Error ? err.message : String(err);
  if (current) current.error += text; else report.errors.push(text);
});
server.on("result", (code) => {
  current.result = code;
  report.commands.push(current);
  current = null;
  next();
});

function next() {
  const args = commands.shift();
  if (!args) {
    const child = server.server;
    child.on("exit", (code, signal) => {
      report.exit = code;
      report.signal = signal;
      console.log(JSON.stringify(report));
    });
    child.kill(); // SIGTERM, between requests
    return;
  }
  current = { args, output: "", error: "", result: null };
  server.runcommand(...args);
}

const timer = setTimeout(() => {
  report.errors.push("timed out; pending: " + JSON.stringify(current));
  console.log(JSON.stringify(report));
  process.exit(2);
}, 60000);
timer.unref();

server.start(dir, (err, capabilities, encoding) => {
  if (err) {
    report.errors.push("start: " + err.message);
    console.log(JSON.stringify(report));
    process.exit(1);
  }
  report.hello = { capabilities, encoding };
  next();
});
