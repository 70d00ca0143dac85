// build.mjs bundles the page into dist/, which embed.go embeds: one ES
// module (app.js, with uPlot inside), one style sheet (style.css, with
// uPlot's inside), index.html and the icon. Nothing is fetched at run time.
//
//   node build.mjs            build once (what `make webui` runs)
//   node build.mjs --watch    rebuild on every change while developing
import * as esbuild from "esbuild";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";

const watch = process.argv.includes("--watch");
const out = "dist";

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
// uPlot's licence asks for its notice to travel with copies.
await writeFile(`${out}/THIRD_PARTY_LICENSES.txt`,
  "uPlot, bundled into app.js and style.css:\n\n" + (await readFile("node_modules/uplot/LICENSE", "utf8")));

const options = {
  entryPoints: { app: "src/main.js", style: "src/style.css" },
  outdir: out,
  bundle: true,
  format: "esm",
  // light-dark() in style.css needs these versions.
  target: ["chrome123", "firefox120", "safari17.5"],
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  legalComments: "eof",
  banner: {
    js: "/*! esmon. Includes uPlot (MIT, (c) Leon Sorokin): see THIRD_PARTY_LICENSES.txt */",
    css: "/*! esmon. Includes uPlot's styles (MIT, (c) Leon Sorokin): see THIRD_PARTY_LICENSES.txt */",
  },
  logLevel: "warning",
  metafile: true,
};

// index.html last: make takes it as the mark of a finished build.
const copyStatic = async () => {
  for (const f of ["favicon.svg", "index.html"]) await copyFile(`src/${f}`, `${out}/${f}`);
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  await copyStatic();
  console.log("watching src/ for changes; dist/ is rebuilt on each");
} else {
  const res = await esbuild.build(options);
  await copyStatic();
  for (const [name, o] of Object.entries(res.metafile.outputs)) console.log(`${name}\t${o.bytes} bytes`);
}
