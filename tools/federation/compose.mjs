// Compose subgraph SDL files into a supergraph with @theguild/federation-composition.
//
//   node compose.mjs plans.graphql indicators.graphql notifications.graphql [--out supergraph.graphql]
//
// Each file's base name is the subgraph name. Exits 1 and prints every composition error when
// the subgraphs do not compose (what a standard federation router would refuse).
import { readFileSync, writeFileSync } from "node:fs";
import { basename, extname } from "node:path";
import { parse } from "graphql";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";

const args = process.argv.slice(2);
let out = null;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--out") out = args[++i];
  else files.push(args[i]);
}
if (files.length === 0) {
  console.error("usage: node compose.mjs <subgraph.graphql>... [--out supergraph.graphql]");
  process.exit(2);
}

const services = [];
for (const file of files) {
  const name = basename(file, extname(file));
  try {
    services.push({ name, typeDefs: parse(readFileSync(file, "utf8")), url: `http://${name}.invalid/graphql` });
  } catch (error) {
    console.error(`${name}: cannot parse SDL: ${error.message}`);
    process.exit(1);
  }
}

const result = composeServices(services);
if (compositionHasErrors(result)) {
  for (const error of result.errors) {
    const code = error.extensions && error.extensions.code ? `[${error.extensions.code}] ` : "";
    console.error(`${code}${error.message}`);
  }
  process.exit(1);
}
if (out) writeFileSync(out, result.supergraphSdl);
console.log(`composed ${services.map((s) => s.name).join(", ")}`);
