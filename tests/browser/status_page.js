// Drives the status page at http://HOST:PORT/ in headless Chromium
// (playwright-core with Debian's chromium): first without a token (the page
// must ask for one), then with a wrong one (refused), then with TOKEN typed
// into its form. Prints what the page shows as JSON on stdout and saves a
// full-page screenshot to OUT.png and one of the headline figures to
// OUT-overview.png (for OCR).
//
// usage: node status_page.js HOST PORT TOKEN OUT
const { chromium } = require("playwright-core");

const [host, port, token, out] = process.argv.slice(2);
const url = `http://${host}:${port}/`;

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.HYDRANT_TEST_CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1100 }, deviceScaleFactor: 2 });
    const problems = [];
    page.on("pageerror", (e) => problems.push("page error: " + e.message));

    await page.goto(url);
    await page.waitForSelector("#login", { state: "visible", timeout: 30000 });
    const askedFor = await page.textContent("#state");

    await page.fill("#token", "not-a-token");
    await page.click("#login button");
    await page.waitForFunction(() => document.getElementById("state").textContent.includes("refused"), null, { timeout: 30000 });
    const refused = await page.textContent("#state");

    await page.fill("#token", token);
    await page.click("#login button");
    await page.waitForFunction(() => Number(document.body.dataset.updated) >= 1, null, { timeout: 30000 });
    const loginHidden = await page.isHidden("#login");

    const shown = await page.evaluate(() => {
      const text = (el, sel) => el.querySelector(sel).textContent;
      const cores = [...document.querySelectorAll("#cores tbody tr[data-core]")].map((r) => ({
        core: Number(r.dataset.core),
        rate: text(r, ".rate"),
        lines_accepted: text(r, ".lines-accepted"),
        lines_rejected: text(r, ".lines-rejected"),
        write_requests: text(r, ".write-requests"),
        p50: text(r, ".p50"),
        p99: text(r, ".p99"),
        max: text(r, ".max"),
        memory_rows: text(r, ".memory-rows"),
      }));
      const tables = [...document.querySelectorAll("#tables tbody tr[data-table]")].map((r) => ({
        db: r.dataset.db,
        table: r.dataset.table,
        rows: text(r, ".rows"),
        memory_rows: text(r, ".memory-rows"),
        files: text(r, ".files"),
      }));
      const errors = [...document.querySelectorAll("#errors tbody tr")].map((r) =>
        [...r.cells].map((c) => c.textContent));
      const tile = (id) => document.getElementById(id).textContent;
      return {
        uptime: tile("uptime"),
        version: tile("version"),
        total_rate: tile("total-rate"),
        total_accepted: tile("total-accepted"),
        total_rejected: tile("total-rejected"),
        total_p99: tile("total-p99"),
        total_memory: tile("total-memory"),
        cores, tables, errors,
      };
    });
    await page.screenshot({ path: out + ".png", fullPage: true });
    await page.locator("#overview").screenshot({ path: out + "-overview.png" });
    console.log(JSON.stringify({ askedFor, refused, loginHidden, problems, shown }));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
