// Builds the package's bundles with esbuild:
// - dist/masterclass-sync.js: the package, one ES module (RxDB and rxjs inside), for apps that
//   load it without a bundler (an app with one imports `src/index.ts`);
// - dist/desk/: the desk page (index.html, desk.js, desk.css, sw.js), which the local gateway
//   serves at /desk;
// - build/: the tests' bundles (not committed).
// `node build.mjs --check` fails when dist/ is not what this build writes (the gateway serves
// the committed files, so they must be current).
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile, rm } from "node:fs/promises";
import { build } from "esbuild";

const check = process.argv.includes("--check");
const common = { bundle: true, format: "esm", platform: "browser", target: "es2022", minify: true, legalComments: "none", write: false, logLevel: "warning" };

async function bundle(entry) {
  const result = await build({ ...common, entryPoints: [entry] });
  return result.outputFiles[0].text;
}

const desk = await bundle("desk/desk.ts");
const css = await readFile("desk/desk.css", "utf8");
const html = await readFile("desk/index.html", "utf8");
const version = createHash("sha256").update(desk).update(css).update(html).digest("hex").slice(0, 16);
const outputs = {
  "dist/masterclass-sync.js": await bundle("src/index.ts"),
  "dist/desk/desk.js": desk,
  "dist/desk/desk.css": css,
  "dist/desk/index.html": html,
  "dist/desk/sw.js": (await readFile("desk/sw.js", "utf8")).replace("__VERSION__", version),
};

if (check) {
  const stale = [];
  for (const [path, text] of Object.entries(outputs)) {
    if ((await readFile(path, "utf8").catch(() => null)) !== text) stale.push(path);
  }
  if (stale.length) {
    console.error(`stale, run \`npm run build\` in shared/client: ${stale.join(", ")}`);
    process.exit(1);
  }
} else {
  await mkdir("dist/desk", { recursive: true });
  for (const [path, text] of Object.entries(outputs)) await writeFile(path, text);
  console.log(`built dist/ (desk ${version}, ${(desk.length / 1024).toFixed(0)} KiB)`);
}

// The tests' bundles: node tests, and the page the browser tests load.
await rm("build", { recursive: true, force: true });
await build({ ...common, write: true, entryPoints: ["test/unit.test.ts"], outdir: "build", platform: "node", outExtension: { ".js": ".mjs" }, minify: false });
