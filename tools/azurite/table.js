// Runs the Azurite Table service (same arguments as `azurite-table`) until this process's
// stdin closes. Tests keep the write end of that pipe; when the test binary exits or crashes
// without cleaning up, the pipe closes and the emulator exits with it: no orphans.
"use strict";
const path = require("path");

const main = path.join(__dirname, "node_modules", "azurite", "dist", "src", "table", "main.js");

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();

process.argv = [process.argv[0], main, ...process.argv.slice(2)];
require(main);
