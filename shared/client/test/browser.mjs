// The browser tests: the desk page and the package in headless Chromium (playwright-core), against
// the platform the Rust test started (`tests/e2e/browser.rs` passes it in SETUP). Each check
// prints a line; the last line is a JSON report the Rust side checks against the database.
// Exits non-zero on the first failed check.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const setup = JSON.parse(process.env.SETUP);
const { base, tutor, admin, masterclass, question, taken } = setup;
const report = { registered: [], timings: {} };

const log = (line) => console.log(line);
// A check that hangs fails the run rather than the suite.
setTimeout(() => {
  console.error("browser checks: gave up after 4 minutes");
  process.exit(3);
}, 240_000).unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `promise`, or a failure naming `what` after `ms`. */
function within(what, promise, ms = 15000) {
  let timer;
  const timeout = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` until it returns a truthy value; returns it and how long it took. */
async function waitFor(what, check, timeout = 15000) {
  const started = Date.now();
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return { value: last, ms: Date.now() - started };
    } catch (error) {
      last = error;
    }
    if (Date.now() - started > timeout) throw new Error(`timed out after ${timeout} ms: ${what} (last: ${last})`);
    await sleep(20);
  }
}

async function api(method, path, token, body) {
  const answer = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await answer.text();
  if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Everything of `collection` the server now has for this token, by a fresh pull. */
async function freshPull(token, collection) {
  const records = new Map();
  let cursor = "";
  for (;;) {
    const page = await api("GET", `/api/sync/pull?collections=${collection}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, token);
    for (const change of page.changes) {
      if (change.op === "upsert") records.set(change.id, { id: change.id, ...change.fields, clocks: change.clocks });
      else records.delete(change.id);
    }
    cursor = page.next_cursor;
    if (!page.has_more) return records;
  }
}

/** The page's local inscriptions of the masterclass (live ones), as the package holds them. */
const localRecords = (page, collection = "inscriptions") =>
  page.evaluate(async (name) => {
    const docs = await window.desk.client.collections[name].find().exec();
    return docs.map((d) => d.toJSON());
  }, collection);

/** Does the page hold exactly what the server has, field by field and clock by clock? */
async function sameAsServer(page, token, collection = "inscriptions") {
  const server = await freshPull(token, collection);
  const local = await localRecords(page, collection);
  if (local.length !== server.size) return false;
  for (const doc of local) {
    const held = server.get(doc.id);
    if (!held) return false;
    for (const [field, value] of Object.entries(held)) {
      if (JSON.stringify(doc[field]) !== JSON.stringify(value)) return false;
    }
  }
  return true;
}

async function openDesk(context) {
  const page = await context.newPage();
  page.on("pageerror", (error) => log(`  page error: ${error.message}`));
  if (process.env.DEBUG) page.on("console", (m) => log(`  console: ${m.text()}`));
  if (process.env.DEBUG) page.on("request", (r) => r.url().includes("/api/") && log(`  ${Date.now() % 100000} ${r.method()} ${r.url().slice(base.length, base.length + 60)}`));
  await page.goto(`${base}/desk`);
  await page.waitForFunction(() => document.body.dataset.ready === "true" || !document.querySelector("#signin").hidden);
  return page;
}

async function signIn(page) {
  if ((await page.getAttribute("body", "data-ready")) === "true") return;
  await page.fill("#signin-form [name=email]", tutor.email);
  await page.fill("#signin-form [name=password]", tutor.password);
  await page.click("#signin-form button");
  await page.waitForFunction(() => document.body.dataset.ready === "true");
}

async function pick(page) {
  await page.waitForSelector(`#masterclass option[value="${masterclass}"]`, { state: "attached" });
  await page.selectOption("#masterclass", masterclass);
}

// The page acted on comes to the front, as the one a user types in is: a browser slows down
// the timers of hidden tabs.
async function register(page, student) {
  await page.bringToFront();
  await page.fill("#register [name=full_name]", student.name);
  await page.fill("#register [name=date_of_birth]", student.dob ?? "2003-04-05");
  await page.fill("#register [name=whatsapp_number]", student.phone);
  await page.check("#register [name=consent]");
  if (student.attended) await page.check("#register [name=attended]");
  else await page.uncheck("#register [name=attended]");
  await page.click("#register button");
}

/** The names in the page's table, with their attendance. */
const table = (page) =>
  page.$$eval("#students tbody tr", (rows) =>
    rows.map((r) => ({ name: r.cells[0].textContent, attended: r.querySelector("input").checked })),
  );
const shows = async (page, name) => (await table(page)).find((r) => r.name === name);

async function setAttended(page, name, attended) {
  await page.bringToFront();
  const row = page.locator("#students tbody tr", { hasText: name });
  if (attended) await row.locator("input").check();
  else await row.locator("input").uncheck();
}

const phone = (n) => `+2410770${String(n).padStart(4, "0")}`;

const browser = await chromium.launch({
  executablePath: setup.chromium,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const deviceA = await browser.newContext();
  const deviceB = await browser.newContext();
  const a = await openDesk(deviceA);
  await signIn(a);
  await pick(a);
  const b = await openDesk(deviceB);
  await signIn(b);
  await pick(b);
  const a2 = await openDesk(deviceA);
  await pick(a2);
  for (const page of [a, b, a2]) await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  // The tab that replicates (one per device) holds the socket.
  await waitFor("the live channel is open on each device", async () => {
    const states = await Promise.all([a, b].map((p) => p.textContent("#live")));
    return states.every((s) => s.includes("oui"));
  });
  log("ok - two devices and a second tab signed in, the live channel open");

  // Live: a registration at desk A shows on B and on A's second tab within a second.
  const awa = { name: "Awa Mintsa", phone: phone(1), attended: false };
  let started = Date.now();
  if (process.env.DEBUG) log(`  ${Date.now() % 100000} register; leaders ${await Promise.all([a, a2, b].map((p) => p.evaluate(() => window.desk.client.db.leaderElector().isLeader)))}`);
  await register(a, awa);
  report.registered.push(awa);
  const onB = await waitFor("A's registration on B", () => shows(b, awa.name), 5000);
  const seenB = Date.now() - started;
  if (process.env.DEBUG) log(`  ${Date.now() % 100000} seen`);
  await waitFor("A's registration on A's second tab", () => shows(a2, awa.name), 5000);
  report.timings.live_edit_to_other_device_ms = seenB;
  assert.ok(seenB < 1000, `seen on B after ${seenB} ms`);
  started = Date.now();
  await setAttended(b, awa.name, true);
  await waitFor("B's attendance on A", async () => (await shows(a, awa.name))?.attended === true, 5000);
  report.timings.live_attendance_to_other_device_ms = Date.now() - started;
  assert.ok(report.timings.live_attendance_to_other_device_ms < 1000, `${report.timings.live_attendance_to_other_device_ms} ms`);
  const fanny = { name: "Fanny Moussavou", phone: phone(6), attended: true };
  started = Date.now();
  await register(a2, fanny);
  report.registered.push(fanny);
  await waitFor("the second tab's registration on B", () => shows(b, fanny.name), 5000);
  await waitFor("and on A", () => shows(a, fanny.name), 5000);
  report.timings.live_second_tab_to_other_device_ms = Date.now() - started;
  assert.ok(report.timings.live_second_tab_to_other_device_ms < 1000, `${report.timings.live_second_tab_to_other_device_ms} ms`);
  log(`ok - live: a registration reached the other device in ${seenB} ms, an attendance mark in ${report.timings.live_attendance_to_other_device_ms} ms, one from the second tab in ${report.timings.live_second_tab_to_other_device_ms} ms`);

  // Offline: both devices edit the same record and different ones, reload, and close a tab
  // right after a write.
  await deviceA.setOffline(true);
  await deviceB.setOffline(true);
  const ben = { name: "Ben Obiang", phone: phone(2), attended: true };
  const chloe = { name: "Chloé Nzé", phone: phone(3), attended: false };
  const dan = { name: "Dan Essono", phone: phone(4), attended: true };
  await register(a, ben);
  await setAttended(a, awa.name, false);
  await sleep(30);
  await register(b, chloe);
  // B held Awa as present too: it marks her absent, then present again, after A's mark.
  await setAttended(b, awa.name, false);
  await setAttended(b, awa.name, true);
  report.registered.push(ben, chloe, dan);
  await waitFor("A counts its offline writes", async () => (await a.textContent("#pending")) !== "En attente : 0");
  await a.reload();
  await a.waitForFunction(() => document.body.dataset.ready === "true");
  assert.ok(await a.evaluate(() => Boolean(navigator.serviceWorker.controller)), "the service worker answers the reload");
  await waitFor("an offline write survives an offline reload", () => shows(a, ben.name), 5000);
  await register(a2, dan);
  await waitFor("the write is stored", () => a2.evaluate(async (name) => (await window.desk.client.collections.inscriptions.find({ selector: { full_name: name } }).exec()).length === 1, dan.name), 2000);
  await a2.close();
  log("ok - offline: writes on both devices, an offline reload, a tab closed right after a write");
  const tutorToken = (await api("POST", "/api/auth/token", "", { email: tutor.email, password: tutor.password })).access_token;
  started = Date.now();
  await deviceA.setOffline(false);
  await deviceB.setOffline(false);
  await waitFor("A equals a fresh pull", () => sameAsServer(a, tutorToken), 15000);
  await waitFor("B equals a fresh pull", () => sameAsServer(b, tutorToken), 15000);
  report.timings.reconnect_to_converged_ms = Date.now() - started;
  const server = [...(await freshPull(tutorToken, "inscriptions")).values()];
  for (const s of [awa, ben, chloe, dan]) {
    assert.equal(server.filter((r) => r.full_name === s.name).length, 1, `${s.name} once on the server`);
  }
  // The later of the two offline writes of Awa's attendance (B's) wins everywhere.
  assert.equal(server.find((r) => r.full_name === awa.name).attended, true);
  awa.attended = true;
  assert.equal((await shows(a, dan.name))?.name, dan.name, "the closed tab's write reached the server");
  for (const page of [a, b]) assert.equal(await page.textContent("#pending"), "En attente : 0");
  log(`ok - back online, both devices equal a fresh pull after ${report.timings.reconnect_to_converged_ms} ms; each registration once`);

  // A write the server refuses is undone on the device and shown with its reason.
  const twin = { name: "Awa Jumelle", phone: taken };
  await register(a, twin);
  await waitFor("the refused registration is shown", async () => (await a.textContent("#rejections")).includes("déjà inscrit"), 10000);
  await waitFor("and undone", async () => !(await shows(a, twin.name)), 5000);
  assert.ok((await a.textContent("#rejections")).includes(twin.name));
  if (process.env.DESK_SCREENSHOT) {
    await a.bringToFront();
    await a.setViewportSize({ width: 900, height: 900 });
    await a.screenshot({ path: process.env.DESK_SCREENSHOT, fullPage: true });
  }
  const questions = await a.evaluate(async ({ question }) => {
    const within = (what, promise) =>
      Promise.race([promise, new Promise((_, fail) => setTimeout(() => fail(new Error(`timed out: ${what}`)), 10000))]);
    const client = await window.desk.createSyncClient({ name: "desk-questions-test", collections: ["questions"], live: false, retryTime: 500, token: () => window.desk.session.token });
    await within("the first sync of the questions", client.awaitInSync());
    const held = await client.collections.questions.findOne(question).exec();
    if (!held) throw new Error(`no question ${question} among ${(await client.collections.questions.find().exec()).length}; leader ${client.db.leaderElector().isLeader}`);
    const before = held.toJSON();
    await held.incrementalPatch({ choice_a: "Une autre réponse" });
    const rejections = await within("the rejection", new Promise((resolve) => {
      const sub = client.rejections$.subscribe((r) => {
        if (r.length) {
          sub.unsubscribe();
          resolve(r);
        }
      });
    }));
    await within("the push's answer applied", client.awaitInSync());
    const after = (await client.collections.questions.findOne(question).exec()).toJSON();
    await client.close();
    return { before: before.choice_a, after: after.choice_a, rejections };
  }, { question });
  assert.equal(questions.after, questions.before, "the refused edit is undone");
  assert.equal(questions.rejections[0].reason, "conflict");
  assert.match(questions.rejections[0].detail, /^question_used/);
  log("ok - refused writes (a duplicate registration, a used question's choice) are undone and shown with their reason");

  // A tutor taken off the masterclass loses its rows on every device; put back, gets them.
  await api("DELETE", `/api/admin/users/${tutor.id}/masterclasses/${masterclass}`, admin.token);
  started = Date.now();
  await waitFor("A lost the rows", async () => (await localRecords(a)).length === 0, 10000);
  await waitFor("B lost the rows", async () => (await localRecords(b)).length === 0, 10000);
  report.timings.unassigned_to_rows_gone_ms = Date.now() - started;
  await api("PUT", `/api/admin/users/${tutor.id}/masterclasses/${masterclass}`, admin.token);
  started = Date.now();
  await waitFor("A has them back", async () => (await table(a)).length === report.registered.length + 1, 10000);
  await waitFor("B has them back", () => sameAsServer(b, tutorToken), 10000);
  report.timings.assigned_to_rows_back_ms = Date.now() - started;
  log(`ok - unassigned: rows gone from both devices in ${report.timings.unassigned_to_rows_gone_ms} ms; assigned again: back in ${report.timings.assigned_to_rows_back_ms} ms`);

  // The localStorage import runs once, across two tabs and a reload.
  const legacy = await browser.newContext();
  await legacy.addInitScript(() => {
    if (!localStorage.getItem("panier")) {
      localStorage.setItem("panier", JSON.stringify({ articles: [1, 2, 3] }));
      localStorage.setItem("brouillon", "texte libre, pas du JSON");
    }
  });
  const l1 = await openDesk(legacy);
  await signIn(l1);
  const l2 = await openDesk(legacy);
  const importBoth = (page) => page.evaluate(() => window.desk.client.importLocalStorage(["panier", "brouillon", "absent"], { owner: window.desk.session.user.id }));
  const [first, second] = await within("the import in two tabs at once", Promise.all([importBoth(l1), importBoth(l2)]));
  await l1.reload();
  await l1.waitForFunction(() => document.body.dataset.ready === "true");
  const again = await within("the import after a reload", importBoth(l1));
  const documents = await waitFor("both documents on the server", async () => {
    const held = [...(await freshPull(tutorToken, "documents")).values()];
    return held.length === 2 && held;
  }, 10000);
  assert.equal(first + second, 2, `created ${first} + ${second}`);
  assert.equal(again, 0);
  const byKey = Object.fromEntries(documents.value.map((d) => [d.key, d.value]));
  assert.deepEqual(byKey, { panier: { articles: [1, 2, 3] }, brouillon: "texte libre, pas du JSON" });
  log("ok - the localStorage import ran once across two tabs and a reload");
  await legacy.close();

  // A dropped connection: B misses a change while offline and catches up on reconnect.
  await deviceB.setOffline(true);
  const eve = { name: "Eve Ondo", phone: phone(5), attended: false };
  await register(a, eve);
  report.registered.push(eve);
  await waitFor("A pushed Eve", async () => (await a.textContent("#pending")) === "En attente : 0", 5000);
  await sleep(300);
  assert.ok(!(await shows(b, eve.name)), "B is offline");
  started = Date.now();
  await deviceB.setOffline(false);
  await waitFor("B caught up after reconnecting", () => shows(b, eve.name), 10000);
  report.timings.reconnect_to_caught_up_ms = Date.now() - started;
  log(`ok - a dropped connection resynced on reconnect in ${report.timings.reconnect_to_caught_up_ms} ms`);

  // A lost answer: the server applies a push and the answer never arrives; the package sends
  // again, and nothing is applied twice (the Rust side counts the registration and its
  // confirmation).
  let lost = 0;
  await a.route("**/api/sync/push", async (route) => {
    const body = route.request().postData() ?? "";
    if (lost === 0 && body.includes("Gaëlle")) {
      lost++;
      await route.fetch();
      await route.abort("connectionreset");
    } else {
      await route.continue();
    }
  });
  const gaelle = { name: "Gaëlle Mba", phone: phone(7), attended: true };
  await register(a, gaelle);
  report.registered.push(gaelle);
  await waitFor("the registration whose answer was lost reached B", () => shows(b, gaelle.name), 10000);
  await waitFor("and A has nothing pending", async () => (await a.textContent("#pending")) === "En attente : 0", 10000);
  assert.equal(lost, 1, "the answer was lost once");
  await a.unroute("**/api/sync/push");
  log("ok - a push whose answer was lost was sent again and applied once");

  // A token that stopped working (the password was reset): the desk asks for a sign-in, then
  // the write waiting for it goes through.
  const renewed = "un tout nouveau mot de passe";
  await api("POST", `/api/admin/users/${tutor.id}/password`, admin.token, { password: renewed });
  await setAttended(a, eve.name, true);
  await waitFor("the desk asks to sign in again", () => a.isVisible("#signin"), 10000);
  await a.fill("#signin-form [name=password]", renewed);
  await a.fill("#signin-form [name=email]", tutor.email);
  await a.click("#signin-form button");
  const freshToken = (await api("POST", "/api/auth/token", "", { email: tutor.email, password: renewed })).access_token;
  await waitFor("the waiting write reached the server", async () => {
    const server = [...(await freshPull(freshToken, "inscriptions")).values()];
    return server.find((r) => r.full_name === eve.name)?.attended === true;
  }, 10000);
  eve.attended = true;
  log("ok - a refused token: the app was asked to sign in again, and the waiting write went through");

  await deviceA.close();
  await deviceB.close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
