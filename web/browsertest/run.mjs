// Browser test of the FlowLens web UI: playwright-core drives Debian's
// chromium against a running `flowlens demo`. web/browser_test.go starts the
// demo and runs this; it can also be run by hand:
//
//   FLOWLENS_URL=http://127.0.0.1:8080 FLOWLENS_ADMIN_PASSWORD=pw \
//   OUT_DIR=/tmp/shots node web/browsertest/run.mjs
//
// Every check throws on failure (exit 1). Screenshots of every page at
// 1280x800 and 390x844 go to OUT_DIR. Page answer times and the 10,000-point
// chart timings are printed as "figure:" lines (measured, never asserted).
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const base = process.env.FLOWLENS_URL;
const password = process.env.FLOWLENS_ADMIN_PASSWORD;
const outDir = process.env.OUT_DIR || "out";
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!base || !password) {
  console.error("set FLOWLENS_URL and FLOWLENS_ADMIN_PASSWORD");
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

const sizes = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
];
const pages = [
  ["overview", "/"],
  ["insights", "/insights"],
  ["monitors", "/monitors"],
  ["flowlogs", "/flowlogs"],
  ["internet", "/internet"],
  ["alarms", "/alarms"],
  ["agents", "/agents"],
];

function check(cond, msg) {
  if (!cond) throw new Error("check failed: " + msg);
  console.log("ok: " + msg);
}

async function shot(page, name) {
  const file = path.join(outDir, name + ".png");
  await page.screenshot({ path: file, fullPage: true });
}

// noHorizontalScroll: the page itself must not scroll sideways (wide
// tables scroll inside their own box).
async function noHorizontalScroll(page, what) {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(over <= 1, `${what}: no horizontal page scroll (overflow ${over}px)`);
}

// Extra pages whose answer time is measured (the heavier insights views).
const timedPages = pages.concat([
  ["insights-15m-by-flow", "/insights?since=15m&by=flow"],
  ["insights-6h", "/insights?since=6h"],
  ["insights-24h-retransmissions", "/insights?since=24h&metric=retransmissions"],
]).concat((process.env.EXTRA_PAGES || "").split(",").filter(Boolean).map((p) => [p, p]));

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const errors = [];
try {
  const ctx = await browser.newContext({ viewport: sizes[0] });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => errors.push(e.message));
  // The refused login answers 401 on purpose; anything else logged as an
  // error is a fault.
  page.on("console", (m) => { if (m.type() === "error" && !m.text().includes("status of 401")) errors.push(m.text()); });

  // ONLY_TIMINGS=1: log in and measure the pages of a demo that has been
  // running for a while (BENCHMARKS.md), nothing else.
  if (process.env.ONLY_TIMINGS) {
    await page.goto(base + "/login");
    await page.fill("#username", "admin");
    await page.fill("#password", password);
    await page.click("button[type=submit]");
    await page.waitForURL(base + "/");
    await timings(page);
    await browser.close();
    process.exit(0);
  }

  // Without a session every page leads to the login form.
  await page.goto(base + "/insights");
  check(page.url().startsWith(base + "/login"), "a page without a session redirects to /login");
  await shot(page, "login-desktop");

  // A wrong password is refused.
  await page.fill("#username", "admin");
  await page.fill("#password", "not-the-password");
  await page.click("button[type=submit]");
  check((await page.textContent("body")).includes("Wrong user name or password"), "a wrong password is refused");

  // Log in with the keyboard only: Tab to the fields, Enter to submit.
  await page.fill("#username", "admin");
  await page.focus("#password");
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
  await page.waitForURL(base + "/insights");
  check(true, "logged in as admin and came back to the page asked for");

  // The navigation of / links every page.
  await page.goto(base + "/");
  const hrefs = await page.$$eval("nav a", (as) => as.map((a) => a.getAttribute("href")));
  for (const [, p] of pages) check(hrefs.includes(p), `navigation of / links ${p}`);

  // The skip link is the first thing Tab reaches and moves focus to main.
  await page.keyboard.press("Tab");
  check(await page.evaluate(() => document.activeElement.classList.contains("skip")), "Tab reaches the skip link first");
  await page.keyboard.press("Enter");
  check(await page.evaluate(() => location.hash === "#main"), "the skip link jumps to the content");

  // Every page, both sizes, with every form field labelled.
  for (const size of sizes) {
    await page.setViewportSize({ width: size.width, height: size.height });
    for (const [name, p] of pages) {
      const resp = await page.goto(base + p);
      check(resp.status() === 200, `${name} (${size.name}) answers 200`);
      check(await page.locator("h1").count() > 0, `${name} has a heading`);
      const unlabelled = await page.evaluate(() =>
        [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
          .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
          .map((el) => el.name || el.id));
      check(unlabelled.length === 0, `${name} (${size.name}): every form field is labelled ${unlabelled.join(",")}`);
      await noHorizontalScroll(page, `${name} (${size.name})`);
      await shot(page, `${name}-${size.name}`);
    }
  }
  await page.setViewportSize(sizes[0]);

  // Workload insights: rows and a chart.
  await page.goto(base + "/insights?since=15m");
  const rows = await page.locator("#insights-table tbody tr").count();
  check(rows > 0, `workload insights lists contributors (${rows} rows)`);
  await page.waitForSelector(".chart .uplot", { timeout: 5000 });
  check(true, "workload insights draws its chart");
  // Changing a filter refreshes the results in place (htmx).
  await page.selectOption("#metric", "retransmissions");
  await page.waitForFunction(() => document.querySelector("#insights-table caption").textContent.includes("retransmissions"));
  check(page.url().includes("metric=retransmissions"), "changing the metric refreshes the table and the address");

  const monitorsAvailable = (await (await page.goto(base + "/monitors")).text()).indexOf("not-available") < 0;
  if (monitorsAvailable) {
    await monitorFlow(page);
  } else {
    console.log("note: monitors not built in; the monitor form and path view steps are not run");
  }

  const flowlogsAvailable = (await (await page.goto(base + "/flowlogs")).text()).indexOf("not-available") < 0;
  if (flowlogsAvailable) {
    await flowlogFlow(page);
  } else {
    console.log("note: flow-log queries not built in; the query step is not run");
  }

  const diagnoseAvailable = (await (await page.goto(base + "/flowlogs/diagnose")).text()).indexOf("not-available") < 0;
  if (diagnoseAvailable) {
    await diagnoseFlow(page);
  } else {
    console.log("note: the REJECT diagnosis is not built in; its step is not run");
  }

  const internetAvailable = (await (await page.goto(base + "/internet")).text()).indexOf("not-available") < 0;
  if (internetAvailable && process.env.FLOWLENS_TOKEN) {
    await internetFlow(page);
  } else {
    console.log("note: internet monitor not built in (or no API token given); the internet step is not run");
  }

  const alarmsAvailable = (await (await page.goto(base + "/alarms")).text()).indexOf("not-available") < 0;
  if (alarmsAvailable && process.env.FLOWLENS_TOKEN) {
    await alarmFlow(page);
  } else {
    console.log("note: alarms not built in (or no API token given); the alarm step is not run");
  }

  await timings(page);
  await bigChart(page);

  // Logging out ends the session.
  await page.goto(base + "/");
  await page.click(".logout button");
  await page.waitForURL(base + "/login");
  await page.goto(base + "/agents");
  check(page.url().startsWith(base + "/login"), "after logging out, pages ask to log in again");
  check(errors.length === 0, "no script errors in the pages: " + errors.join(" | "));
} finally {
  await browser.close();
}

// monitorFlow creates a monitor through the form (pre-filled from rows
// selected in workload insights), sees it listed and opens a path view.
async function monitorFlow(page) {
  await page.goto(base + "/insights?since=15m&category=inter-zone");
  const box = page.locator("#insights-table tbody input[type=checkbox]").first();
  await box.check();
  await page.click("text=Create a monitor from the selected rows");
  await page.waitForURL(/\/monitors\/new/);
  const preselected = await page.$$eval("#local option:checked", (os) => os.map((o) => o.value));
  check(preselected.length > 0, "selected insights rows pre-fill the monitor form: " + preselected.join(","));
  const name = "browser-" + Date.now().toString(36);
  await page.fill("#name", name);
  await page.selectOption("#local", ["zone:zone-a"]);
  await page.selectOption("#remote", ["zone:zone-b"]);
  await page.selectOption("#period", "10s");
  await shot(page, "monitor-form-desktop");
  await page.click("button:has-text('Create monitor')");
  await page.waitForURL(base + "/monitors/" + name + "*");
  check((await page.textContent(".notice")).includes("created"), "the monitor is created");
  await page.goto(base + "/monitors");
  check(await page.locator(`#monitors-table a[href="/monitors/${name}"]`).count() === 1, "the new monitor is listed");

  // Edit it: the form comes back with its resources selected.
  await page.goto(base + "/monitors/" + name + "/edit");
  const remotes = await page.$$eval("#remote option:checked", (os) => os.map((o) => o.value));
  check(remotes.join(",") === "zone:zone-b", "the edit form shows the monitor's resources: " + remotes.join(","));
  await page.selectOption("#remote", ["zone:zone-b", "service:objstore"]);
  await page.click("button:has-text('Save monitor')");
  await page.waitForURL(base + "/monitors/" + name + "*");
  check((await page.textContent(".notice")).includes("updated") && (await page.textContent("main")).includes("service:objstore"),
    "the monitor is updated through the form");

  // Wait for an evaluation with contributors, then open a path view.
  let link = null;
  for (let i = 0; i < 40 && !link; i++) {
    await page.goto(base + "/monitors/" + name);
    if (await page.locator("a:has-text('Path view')").count() > 0) link = page.locator("a:has-text('Path view')").first();
    else await page.waitForTimeout(1000);
  }
  check(link !== null, "the monitor's detail page lists contributors with a path view");
  await shot(page, "monitor-desktop");
  await link.click();
  await page.waitForSelector("#path-view .hop");
  const hops = await page.$$eval("#path-view .hop .hop-id", (hs) => hs.map((h) => h.textContent));
  check(hops.length >= 2, "the path view lists the segments: " + hops.join(" → "));
  check(await page.locator(".evidence-side").count() === 1, "the evidence stands beside the path");
  await shot(page, "path-desktop");
  await page.setViewportSize(sizes[1]);
  await shot(page, "path-phone");
  await page.setViewportSize(sizes[0]);
}

// flowlogFlow runs a query through the editor and sees its rows, then a
// `stats ... by bin()` query with its chart.
async function flowlogFlow(page) {
  await page.goto(base + "/flowlogs");
  // The agent's own flows are a built-in log group (flowlens/flows), so
  // the demo has records to query without importing any flow log.
  const group = process.env.FLOWLENS_LOG_GROUP || "flowlens/flows";
  if (await page.locator("select#group").count()) await page.selectOption("#group", group);
  else await page.fill("#group", group);
  await page.selectOption("#since", "1h");
  await page.fill("#q", "fields @timestamp, hostId, localAddr, remoteAddr, port, bytesSent | sort bytesSent desc | limit 10");
  await page.click("#run-query");
  await page.waitForSelector("#query-results tbody tr td");
  const n = await page.locator("#query-results tbody tr").count();
  const text = await page.textContent("#query-results tbody");
  check(n > 0 && !text.includes("No records matched"), `the flow-log query shows its rows (${n})`);
  check((await page.textContent("#query-stats")).includes("scanned"), "the query statistics are shown");
  // The CSV link, fetched with the page's session (headless downloads are
  // not reliable across chromium builds).
  const href = await page.getAttribute("text=Download CSV", "href");
  const r = await page.request.get(base + href);
  const body = await r.text();
  const csv = body.trim().split("\n");
  check(r.status() === 200 && (r.headers()["content-disposition"] || "").startsWith("attachment") && csv[0].startsWith("@timestamp,hostId,localAddr") && csv.length === n + 1,
    `the CSV download has the header and ${n} rows (${r.status()} ${body.slice(0, 80)})`);
  await page.fill("#q", "stats sum(bytesSent) as bytes, count(*) as records by bin(1m)");
  await page.keyboard.press("Control+Enter");
  await page.waitForSelector("#query-chart", { state: "attached" });
  await page.waitForSelector(".chart .uplot");
  check(true, "a stats ... by bin() query is charted");
  check(await page.locator(".history-list li a").count() >= 2, "the queries appear in the history");
  await shot(page, "flowlogs-query-desktop");
}

// diagnoseFlow follows the flow-log page's link to a group's REJECT
// diagnosis: its causes when the server has --aws-config, else the hint
// to give one (the demo's flow log is generated for no real VPC).
async function diagnoseFlow(page) {
  const group = process.env.FLOWLENS_DIAGNOSE_GROUP || "demo-vpc";
  await page.goto(base + "/flowlogs?group=" + encodeURIComponent(group) + "&since=24h");
  await page.click("#diagnose-link");
  await page.waitForSelector("#not-configured, #causes");
  check(page.url().includes("/flowlogs/diagnose?group=" + encodeURIComponent(group)), "the flow-log page links to the group's REJECT diagnosis");
  if (await page.locator("#causes").count()) {
    check((await page.locator("#causes tbody tr").count()) > 0, "the diagnosis lists the causes");
    await page.fill("#src", "10.0.0.1");
    await page.fill("#dst", "10.0.0.2");
    await page.selectOption("#protocol", "icmp");
    await page.click("#check-path");
    await page.waitForSelector("#path-verdict, #path-error");
    check(true, "the path check answers");
  } else {
    check((await page.textContent("#not-configured")).includes("--aws-config"), "without --aws-config the page says how to give one");
  }
  await shot(page, "diagnose-desktop");
}

// internetFlow creates an internet monitor through the API and sees the
// page offer it, with its table, map and events.
async function internetFlow(page) {
  const name = "browser-inet-" + Date.now().toString(36);
  const resp = await fetch(base + "/api/v1/internet/monitors", {
    method: "POST",
    headers: { Authorization: "Bearer " + process.env.FLOWLENS_TOKEN, "Content-Type": "application/json" },
    body: JSON.stringify({ name, period_seconds: 60 }),
  });
  check(resp.status === 201 || resp.status === 200, `internet monitor created through the API (${resp.status})`);
  await page.goto(base + "/internet?monitor=" + encodeURIComponent(name));
  check(await page.locator(`#monitor option[value="${name}"], #monitor option:text-is("${name}")`).count() === 1, "the internet page offers the monitor");
  check(await page.locator("svg.map").count() === 1 && await page.locator("#internet-table").count() === 1, "the internet page shows the map and the city-network table");
  await shot(page, "internet-monitor-desktop");
}

// alarmFlow creates an alarm through the API (as the CLI would) and sees
// it in the alarm list and on its own page with its history.
async function alarmFlow(page) {
  const name = "browser-alarm-" + Date.now().toString(36);
  const resp = await fetch(base + "/api/v1/alarms", {
    method: "POST",
    headers: { Authorization: "Bearer " + process.env.FLOWLENS_TOKEN, "Content-Type": "application/json" },
    body: JSON.stringify({ name, namespace: "FlowLens/Monitors", metric: "retransmissions", statistic: "sum",
      period: "10s", evaluation_periods: 3, datapoints_to_alarm: 2, comparison: ">=", threshold: 1000000,
      treat_missing_data: "notBreaching" }),
  });
  check(resp.status === 201, `alarm created through the API (${resp.status})`);
  await page.goto(base + "/alarms");
  check(await page.locator(`#alarms-table a[href="/alarms/${name}"]`).count() === 1, "the alarm is listed with its state");
  await page.click(`#alarms-table a[href="/alarms/${name}"]`);
  await page.waitForSelector("#alarm-history");
  check((await page.textContent("h1")).includes(name), "the alarm's page shows its state and history");
  await shot(page, "alarm-desktop");
}

// timings fetches every page repeatedly with the browser's session and
// prints the server's answer times.
async function timings(page) {
  const out = await page.evaluate(async (ps) => {
    const res = {};
    for (const [name, p] of ps) {
      const t = [];
      for (let i = 0; i < 10; i++) {
        const s = performance.now();
        const r = await fetch(p, { credentials: "same-origin" });
        await r.text();
        t.push(performance.now() - s);
      }
      t.sort((a, b) => a - b);
      res[name] = { median: t[5], max: t[9] };
    }
    return res;
  }, timedPages);
  for (const [name, v] of Object.entries(out)) {
    console.log(`figure: page ${name} median_ms=${v.median.toFixed(1)} max_ms=${v.max.toFixed(1)}`);
  }
}

// bigChart draws a 10,000-point, 3-series chart with the UI's own chart
// code and measures drawing, resizing and moving the cursor across it.
async function bigChart(page) {
  await page.goto(base + "/insights");
  const r = await page.evaluate(async () => {
    const n = 10000, now = Math.floor(Date.now() / 1000);
    const d = { title: "10k", y_label: "bytes", unit: "bytes", x: [], series: [0, 1, 2].map((k) => ({ label: "s" + k, values: [] })) };
    for (let i = 0; i < n; i++) {
      d.x.push(now - (n - i) * 60);
      d.series.forEach((s, k) => s.values.push(1e6 * (1 + k + Math.sin(i / 50 + k))));
    }
    const el = document.createElement("div");
    el.className = "chart";
    document.querySelector("main").appendChild(el);
    // uPlot paints on the next frame: time until that frame has passed.
    const frame = () => new Promise((res) => requestAnimationFrame(() => setTimeout(res, 0)));
    const t0 = performance.now();
    const plot = window.FlowLens.chart(el, d);
    await frame();
    const t1 = performance.now();
    plot.setSize({ width: 700, height: 260 });
    await frame();
    const t2 = performance.now();
    const over = el.querySelector(".u-over");
    const box = over.getBoundingClientRect();
    for (let i = 0; i < 100; i++) {
      over.dispatchEvent(new MouseEvent("mousemove", { clientX: box.left + (box.width * i) / 100, clientY: box.top + box.height / 2, bubbles: true }));
    }
    await frame();
    const t3 = performance.now();
    return { draw: t1 - t0, resize: t2 - t1, hover: (t3 - t2) / 100, points: plot.data[0].length };
  });
  check(r.points === 10000, "the 10,000-point chart is drawn with every point");
  console.log(`figure: chart 10000 points x 3 series draw_ms=${r.draw.toFixed(1)} resize_ms=${r.resize.toFixed(1)} hover_ms_per_move=${r.hover.toFixed(2)}`);
}
