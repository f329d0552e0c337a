/**
 * The dashboard in a real browser: the built `tally serve --demo` on the embedded default in a
 * temporary folder (what `npm start` runs), driven by playwright-core with Debian's Chromium.
 * It checks the charts are drawn with data, switches the index filter and the bucket size, and
 * saves a screenshot under test/artifacts/.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { type BrowserContext, chromium } from "playwright-core";
import { binary, ensureBuilt, root } from "../cli/fixtures/built-cli.ts";

const CHROMIUM = "/usr/bin/chromium";
let cwd: string;
let serve: ChildProcess | undefined;
let url: string;
let browser: BrowserContext | undefined;
let userData: string;

before(async () => {
  await ensureBuilt();
  cwd = mkdtempSync(join(tmpdir(), "tally-browser-"));
  userData = mkdtempSync(join(tmpdir(), "tally-chromium-"));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(TALLY_|PORT$)/.test(k)) env[k] = v;
  serve = spawn(process.execPath, [binary, "serve", "--demo", "--port", "0"], {
    cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  serve.stderr?.on("data", (d) => {
    stderr += d;
  });
  url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}\n${stderr}`)), 30_000);
    serve?.stdout?.on("data", (d) => {
      out += d;
      const match = /tally dashboard: (http:\/\/\S+?)\/?\n/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
    serve?.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  // A fresh profile folder per run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(userData, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 1100 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  if (serve !== undefined && serve.exitCode === null) {
    const exited = new Promise((resolve) => serve?.once("exit", resolve));
    serve.kill("SIGTERM");
    await exited;
  }
  rmSync(cwd, { recursive: true, force: true });
  rmSync(userData, { recursive: true, force: true });
});

it("draws the demo's charts with data, filters by an index value and switches the bucket size", async () => {
  assert.ok(browser);
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${url}/`);

  const attr = async (selector: string, name: string) => (await page.getAttribute(selector, name)) ?? "";
  const marks = async (id: string) => Number(await attr(`#${id}`, "data-marks"));
  const total = async (id: string) => Number(await attr(`#${id}`, "data-total"));
  // Predicates run in the page; strings keep DOM types out of this Node-side file.
  await page.waitForFunction("Number(document.querySelector('#chart-count')?.dataset.marks ?? 0) > 0", null, {
    timeout: 20_000,
  });
  assert.ok((await marks("chart-failure")) > 0, "failure rate drawn");
  assert.ok((await marks("chart-duration")) > 0, "duration percentiles drawn");
  assert.equal(await attr("#chart-count", "data-points"), "60");
  assert.ok((await page.locator("#chart-count rect[data-series=success]").count()) > 30, "success bars over the hour");
  assert.ok((await page.locator("#chart-duration path[data-series=p95]").count()) === 1, "a p95 line");
  const allEvents = Number(await attr("#tiles", "data-count"));
  const allTotal = await total("chart-count");
  assert.ok(allEvents > 1000, `the backfilled hour has events (${allEvents})`);

  // The counters and trackers tables.
  await page.waitForSelector("#counters-table tbody tr td:text('demo.requests')");
  await page.waitForSelector(".tracker-table td:text('deliveries')");

  // Switch the index filter to one queue: fewer events, charts redrawn from the filtered series.
  const option = await page.locator("#index-filter option", { hasText: "queue = email" }).first().getAttribute("value");
  assert.ok(option, "the filter lists the queue index values");
  await page.selectOption("#index-filter", option);
  await page.waitForFunction(`Number(document.querySelector("#tiles").dataset.count) < ${allEvents}`, null, {
    timeout: 10_000,
  });
  const emailEvents = Number(await attr("#tiles", "data-count"));
  assert.ok(emailEvents > 0 && emailEvents < allEvents, `email ${emailEvents} of ${allEvents}`);
  await page.waitForFunction(`Number(document.querySelector("#chart-count").dataset.total) < ${allTotal}`);
  const response = await fetch(`${url}/api/meter/demo.delivery/summary?version=1&by.queue=email&from=-2h&to=%2B1h`);
  const api = (await response.json()) as { count: number };
  assert.ok(api.count >= emailEvents, "the chart reads the same rollups as the API");

  await mkdirp(join(root, "test", "artifacts"));
  const screenshot = join(root, "test", "artifacts", "dashboard.png");
  await page.screenshot({ path: screenshot, fullPage: true });
  assert.ok(existsSync(screenshot));

  // Hour buckets: 24 points.
  await page.click(".tiers button[data-tier=hour]");
  await page.waitForFunction(`document.querySelector("#chart-count").dataset.points === "24"`);
  assert.ok((await marks("chart-count")) > 0);
  assert.deepEqual(errors, [], "no script errors");
});

function mkdirp(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  return Promise.resolve();
}
