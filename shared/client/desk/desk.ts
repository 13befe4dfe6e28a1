/**
 * The registration desk: a tutor signs in, picks a masterclass, registers students and marks
 * attendance, online or not. Everything goes through the package: the page reads and writes
 * the local database only, and the package syncs it. This is the example a frontend team
 * reads; the browser tests drive it (through `window.desk`).
 */
import { createSyncClient, type Rejection, type SyncClient } from "../src/index.js";

interface Session {
  token: string;
  user: { id: string; email: string; full_name: string; role: string };
}

const SESSION_KEY = "desk:session";
const MASTERCLASS_KEY = "desk:masterclass";

const $ = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T;

/** What the server's reasons mean to the person at the desk. */
function explain(rejection: Rejection): string {
  const rule = (rejection.detail ?? "").split(/[:\s]/)[0];
  const rules: Record<string, string> = {
    already_registered: "déjà inscrit·e à cette masterclass",
    registration_closed: "les inscriptions sont closes",
    question_used: "question déjà utilisée dans un test",
    unknown_record: "fiche inconnue du serveur",
    already_exists: "existe déjà",
  };
  if (rejection.reason === "conflict") return rules[rule] ?? rejection.detail ?? "conflit";
  if (rejection.reason === "forbidden") return "vous n'êtes pas autorisé·e à faire cela";
  if (rejection.reason === "validation") {
    const fields = rejection.errors.map((e) => `${e.field.replace(/^fields\./, "")} : ${e.message}`);
    return `données refusées (${fields.join(" ; ") || rejection.detail || "invalides"})`;
  }
  return rejection.detail ?? rejection.reason;
}

function readSession(): Session | null {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY) ?? "null");
  } catch {
    return null;
  }
}

async function signIn(email: string, password: string): Promise<Session> {
  const answer = await fetch("/api/auth/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  const body = await answer.json().catch(() => null);
  if (!answer.ok) throw new Error(answer.status === 401 ? "E-mail ou mot de passe incorrect." : body?.detail ?? `Erreur ${answer.status}`);
  const session = { token: body.access_token, user: body.user };
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

function showNetwork(): void {
  const badge = $("#network");
  badge.textContent = navigator.onLine ? "En ligne" : "Hors ligne";
  badge.className = `badge ${navigator.onLine ? "on" : "off"}`;
}

/** Shows the sign-in form, and resolves with the session once signed in. */
function askSignIn(): Promise<Session> {
  $("#desk").hidden = true;
  $("#signin").hidden = false;
  const form = $<HTMLFormElement>("#signin-form");
  return new Promise((resolve) => {
    form.onsubmit = async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      try {
        const session = await signIn(String(data.get("email")), String(data.get("password")));
        $("#signin-error").textContent = "";
        $("#signin").hidden = true;
        resolve(session);
      } catch (error) {
        $("#signin-error").textContent = navigator.onLine ? String((error as Error).message) : "Hors ligne : la première connexion demande le réseau.";
      }
    };
  });
}

function text(value: unknown): string {
  return value === null || value === undefined ? "" : String(value);
}

async function start(session: Session): Promise<SyncClient> {
  let current = session;
  // Every replication meeting a 401 at once waits for the same sign-in.
  let signingIn: Promise<void> | null = null;
  const client = await createSyncClient({
    name: `desk-${current.user.id}`,
    // `documents`: what the desk's earlier version kept in localStorage (`importLocalStorage`).
    collections: ["masterclasses", "inscriptions", "documents"],
    retryTime: 1000,
    token: () => current.token,
    // An expired token: sign in again, then the call is retried.
    refreshToken: () =>
      (signingIn ??= askSignIn()
        .then((fresh) => {
          current = fresh;
          $("#desk").hidden = false;
        })
        .finally(() => {
          signingIn = null;
        })),
  });
  $("#desk").hidden = false;
  $("#who").textContent = `${current.user.full_name} (${current.user.email})`;
  $("#signout").onclick = async () => {
    localStorage.removeItem(SESSION_KEY);
    await client.close();
    location.reload();
  };

  const select = $<HTMLSelectElement>("#masterclass");
  let chosen = localStorage.getItem(MASTERCLASS_KEY) ?? "";
  client.collections.masterclasses!.find({ sort: [{ id: "asc" }] }).$.subscribe((masterclasses) => {
    const options = [...masterclasses]
      .sort((a, b) => text(a.starts_at).localeCompare(text(b.starts_at)))
      .map((m) => `<option value="${m.id}">${escape(text(m.title))} (${text(m.starts_at).slice(0, 10)})</option>`);
    select.innerHTML = `<option value="">Choisir une masterclass</option>${options.join("")}`;
    select.value = chosen;
  });

  let students: { unsubscribe(): void } | null = null;
  const show = (masterclass: string) => {
    chosen = masterclass;
    localStorage.setItem(MASTERCLASS_KEY, masterclass);
    students?.unsubscribe();
    const body = $("#students tbody");
    students = client.collections.inscriptions!.find({ selector: { masterclass_id: masterclass } }).$.subscribe((rows) => {
      const sorted = [...rows].sort((a, b) => text(a.full_name).localeCompare(text(b.full_name), "fr"));
      $("#count").textContent = `(${sorted.length})`;
      body.innerHTML = sorted
        .map(
          (s) => `<tr data-id="${s.id}"><td>${escape(text(s.full_name))}</td><td>${text(s.date_of_birth)}</td>` +
            `<td>${escape(text(s.whatsapp_number))}</td>` +
            `<td><input type="checkbox" aria-label="Présent·e" ${s.attended ? "checked" : ""}></td></tr>`,
        )
        .join("");
    });
  };
  select.onchange = () => show(select.value);
  if (chosen) show(chosen);

  $("#students").addEventListener("change", async (event) => {
    const box = event.target as HTMLInputElement;
    const id = box.closest("tr")?.dataset.id;
    if (!id) return;
    const student = await client.collections.inscriptions!.findOne(id).exec();
    await student?.incrementalPatch({ attended: box.checked });
  });

  const form = $<HTMLFormElement>("#register");
  form.onsubmit = async (event) => {
    event.preventDefault();
    if (!chosen) {
      $("#register-error").textContent = "Choisissez d'abord une masterclass.";
      return;
    }
    const data = new FormData(form);
    await client.collections.inscriptions!.insert({
      id: crypto.randomUUID(),
      masterclass_id: chosen,
      full_name: String(data.get("full_name")).trim(),
      date_of_birth: String(data.get("date_of_birth")),
      whatsapp_number: String(data.get("whatsapp_number")).trim(),
      consent: data.get("consent") === "on",
      attended: data.get("attended") === "on",
    });
    $("#register-error").textContent = "";
    form.reset();
    ($<HTMLInputElement>("#register [name=attended]")).checked = true;
  };

  client.pending$.subscribe((count) => {
    $("#pending").textContent = `En attente : ${count}`;
  });
  client.live$.subscribe((on) => {
    $("#live").textContent = `Direct : ${on ? "oui" : "non"}`;
    $("#live").className = `badge ${on ? "on" : "off"}`;
  });
  client.rejections$.subscribe((rejections) => {
    $("#rejections").innerHTML = rejections
      .map((r) => {
        const who = text(r.fields.full_name) || r.record_id;
        return `<li data-id="${escape(r.id)}"><span class="reason">${escape(explain(r))}</span> — ${escape(who)} ` +
          `<button type="button">Ignorer</button></li>`;
      })
      .join("");
  });
  $("#rejections").addEventListener("click", (event) => {
    const item = (event.target as HTMLElement).closest("li");
    if (item?.dataset.id && (event.target as HTMLElement).tagName === "BUTTON") void client.dismissRejection(item.dataset.id);
  });
  return client;
}

function escape(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function main(): Promise<void> {
  showNetwork();
  addEventListener("online", showNetwork);
  addEventListener("offline", showNetwork);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/desk/sw.js", { scope: "/desk" }).catch(() => undefined);
  }
  const session = readSession() ?? (await askSignIn());
  const client = await start(session);
  // For the browser tests and a developer's console.
  (globalThis as any).desk = { client, session, createSyncClient };
  document.body.dataset.ready = "true";
}

void main();
