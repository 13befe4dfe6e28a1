// The browser benchmarks (run by `cargo bench -p e2e-tests --bench browser`, which seeds the data
// and measures the raw figures): a fresh browser's first sync of the account's documents, then
// offline edits of some of them drained on reconnect. Prints one JSON line of figures.
import { chromium } from "playwright-core";

const setup = JSON.parse(process.env.SETUP);
const { base, account, records, edits } = setup;

const browser = await chromium.launch({ executablePath: setup.chromium, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
try {
  const context = await browser.newContext();
  await context.addInitScript((session) => localStorage.setItem("desk:session", JSON.stringify(session)), account);
  const page = await context.newPage();
  const started = Date.now();
  await page.goto(`${base}/desk`);
  await page.waitForFunction(() => document.body.dataset.ready === "true");
  const firstSync = await page.evaluate(async (records) => {
    const documents = window.desk.client.collections.documents;
    while ((await documents.count().exec()) < records) await new Promise((r) => setTimeout(r, 20));
    return performance.now();
  }, records);
  const firstSyncMs = Date.now() - started;

  await context.setOffline(true);
  const drain = await page.evaluate(async (edits) => {
    const { client } = window.desk;
    const docs = await client.collections.documents.find({ limit: edits }).exec();
    for (const doc of docs) await doc.incrementalPatch({ value: { edited: true, at: Date.now() } });
    let pending = 0;
    const sub = client.pending$.subscribe((n) => (pending = n));
    while (pending < docs.length) await new Promise((r) => setTimeout(r, 20));
    sub.unsubscribe();
    return docs.length;
  }, edits);
  const reconnected = Date.now();
  await context.setOffline(false);
  await page.evaluate(async () => {
    const { client } = window.desk;
    await new Promise((resolve) => {
      const sub = client.pending$.subscribe((n) => n === 0 && (sub?.unsubscribe(), resolve()));
    });
  });
  const drainMs = Date.now() - reconnected;
  console.log(JSON.stringify({ first_sync_ms: firstSyncMs, page_ready_to_synced_ms: Math.round(firstSync), drained: drain, drain_ms: drainMs }));
} finally {
  await browser.close();
}
