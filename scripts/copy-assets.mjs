#!/usr/bin/env node
// tsc compiles only TypeScript: copy the Lua and SQL files that modules load at run time
// (src/**/*.lua, src/**/*.sql) and the dashboard's static files to the same place under dist/.
import { cpSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const ASSET = /\.(lua|sql|html|css|svg|mjs)$/; // .mjs: the dashboard's browser scripts (tsc ignores them)
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (ASSET.test(name)) {
      const target = join("dist", relative("src", path));
      mkdirSync(dirname(target), { recursive: true });
      cpSync(path, target);
    }
  }
}
walk("src");
