// Opens an oomtrace HTML report in Debian's headless Chromium and says, as
// one JSON object on stdout, what a person would see: console errors,
// network requests, the OOM sections, whether the charts drew, what a click
// opens. Screenshots go to the directory given. Used by tests/html.rs.
//
//   node page.mjs REPORT.html SHOT_DIR [text]   (text: also the page's whole text)
import { chromium } from "playwright-core";
import { join, resolve } from "node:path";

const [file, shots] = process.argv.slice(2);
const url = "file://" + resolve(file);
const out = { console_errors: [], page_errors: [], requests: [] };
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update",
    // Playwright gives each launch a fresh, empty profile of its own.
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") out.console_errors.push(m.text()); });
  page.on("pageerror", (e) => out.page_errors.push(String(e)));
  page.on("request", (r) => { if (r.url() !== url) out.requests.push(r.url()); });
  const t0 = Date.now();
  await page.goto(url, { waitUntil: "load", timeout: 120000 });
  out.load_ms = Date.now() - t0;
  out.title = await page.title();
  out.ooms = await page.$$eval("[data-oom-seq]", (els) =>
    els.map((e) => ({ seq: +e.dataset.oomSeq, session: +e.dataset.session, id: e.id })));
  // Every chart's drawn size and how many shapes it holds.
  out.svgs = await page.$$eval("svg", (els) => els.map((s) => {
    const r = s.getBoundingClientRect();
    return { id: s.id, cls: s.getAttribute("class") || "", w: r.width, h: r.height,
      shapes: s.querySelectorAll("rect,circle,line,path").length };
  }));
  out.overview_first = await page.evaluate(() => {
    const o = document.getElementById("overview"), d = document.querySelector(".oom");
    return !d || o.getBoundingClientRect().top < d.getBoundingClientRect().top;
  });
  out.timeline_marks = await page.$$eval("#timeline a.mark", (els) =>
    els.map((a) => ({ session: +a.dataset.session, seq: +a.dataset.seq })));
  out.lanes = await page.$$eval("#timeline text.lane", (ts) => ts.map((t) => t.textContent));
  out.detail_note = await page.$$eval("#detail-limit", (ps) => ps.map((p) => p.textContent).join(""));
  out.timeline_bins = await page.$$eval("#timeline rect.bin", (els) =>
    els.reduce((n, r) => n + +r.dataset.count, 0));
  out.who = await page.$$eval("figure.who", (figs) => figs.map((f) => ({
    title: f.querySelector("figcaption").textContent,
    rows: [...f.querySelectorAll("g.who-row")].map((g) => [g.dataset.name, +g.dataset.count]),
  })));
  // Per OOM, the numbers its charts were drawn from.
  out.details = await page.$$eval("section.oom", (els) => els.map((e) => ({
    seq: +e.dataset.oomSeq,
    memcg: (() => { const m = e.querySelector("svg.memcg"); return m ? [+m.dataset.usageKb, +m.dataset.limitKb] : null; })(),
    composition: [...e.querySelectorAll("svg.composition rect[data-part]")].map((r) => [r.dataset.part, +r.dataset.kb]),
    victim: [...e.querySelectorAll("svg.victim rect[data-part]")].map((r) => [r.dataset.part, +r.dataset.kb]),
    zones: [...e.querySelectorAll("g.zone")].map((g) => [g.dataset.zone, +g.dataset.freeKb, +g.dataset.minKb, +g.dataset.lowKb, +g.dataset.highKb]),
    buddies: [...e.querySelectorAll("figure.buddy")].map((f) => [f.dataset.zone,
      [...f.querySelectorAll("g.order")].map((g) => [+g.dataset.count, g.dataset.types])]),
    chips: [...e.querySelectorAll(".chip")].map((c) => c.textContent),
    ftrace: (() => { const p = e.querySelector("pre.ftrace"); return p ? p.textContent : null; })(),
    leadup_memcg: (() => { const l = e.querySelector("svg.leadup.memcg"); return l ? l.dataset.values.split(" ").map(Number) : null; })(),
    // Each stacked bar as drawn: its width and total, and each part's kB,
    // left edge and width in screen pixels.
    bars: [...e.querySelectorAll("svg.bar")].map((svg) => {
      const s = svg.getBoundingClientRect();
      return { cls: svg.getAttribute("class"), total: +svg.dataset.totalKb, width: s.width,
        parts: [...svg.querySelectorAll("rect[data-part]")].map((r) => {
          const b = r.getBoundingClientRect();
          return [+r.dataset.kb, b.left - s.left, b.width];
        }) };
    }),
  })));
  // What markup in a name (a comm any process picks, a cgroup's name) did:
  // nothing, if it was escaped. The names' own text, for the test to find.
  out.pwned = await page.evaluate(() => window.__pwned === 1);
  out.images = await page.evaluate(() => document.images.length);
  out.scripts = await page.evaluate(() => document.scripts.length);
  if (process.argv[4] === "text") out.text = await page.evaluate(() => document.body.innerText);
  await page.screenshot({ path: join(shots, "overview.png") });
  // Click the first OOM's report open; the text must then be shown.
  const first = page.locator("section.oom").first();
  if (await first.count()) {
    await first.locator("details.report > summary").click();
    const pre = first.locator("details.report > pre");
    out.click_report = { visible: await pre.isVisible(), text: await pre.textContent() };
    await first.screenshot({ path: join(shots, "oom.png") });
    // A timeline mark opens its OOM (the last one drawn).
    const marks = page.locator("#timeline a.mark");
    if (await marks.count()) {
      const last = marks.last();
      const want = `oom-${await last.getAttribute("data-session")}-${await last.getAttribute("data-seq")}`;
      await last.dispatchEvent("click");
      out.click_mark = await page.evaluate((id) => {
        const s = document.getElementById(id);
        return { id, target: !!s && s.classList.contains("target"),
          open: !!s && s.querySelector("details.report").open };
      }, want);
    }
  }
  const frames = page.locator("#flame g.frame");
  if (await frames.count() > 1) {
    await frames.nth(1).dispatchEvent("click");
    out.click_flame = { name: await frames.nth(1).getAttribute("data-name"),
      count: +(await frames.nth(1).getAttribute("data-count")),
      text: await page.locator("#flame-pick").textContent(),
      links: await page.$$eval("#flame-pick a.seq", (as) => as.map((a) => a.getAttribute("href"))) };
  }
  await page.screenshot({ path: join(shots, "full.png"), fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
