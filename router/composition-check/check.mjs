// Composes the subgraphs listed in rover's supergraph.yaml with The Guild's
// @theguild/federation-composition, a Federation 2 composer independent of the Rust one
// herald-router uses, and fails on any composition error.
//
//   node check.mjs <supergraph.yaml> [output.graphql]
//
// Packages are resolved from HERALD_NPM_DIR when set (CI installs them outside the clone),
// otherwise from this folder.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(process.env.HERALD_NPM_DIR || here, 'package.json'));
const { parse } = require('graphql');
const { composeServices } = require('@theguild/federation-composition');
const YAML = require('yaml');

const [configPath, outputPath] = process.argv.slice(2);
if (!configPath) {
  console.error('usage: node check.mjs <supergraph.yaml> [output.graphql]');
  process.exit(2);
}

const config = YAML.parse(readFileSync(configPath, 'utf8'));
const base = path.dirname(configPath);
const services = Object.entries(config.subgraphs ?? {}).map(([name, entry]) => {
  if (!entry?.schema?.file) {
    console.error(`subgraph ${name}: only schema.file entries can be checked offline`);
    process.exit(2);
  }
  const file = path.resolve(base, entry.schema.file);
  return { name, url: entry.routing_url, typeDefs: parse(readFileSync(file, 'utf8')) };
});
if (services.length === 0) {
  console.error(`${configPath} lists no subgraphs`);
  process.exit(2);
}

const result = composeServices(services);
if (result.errors && result.errors.length > 0) {
  console.error(`@theguild/federation-composition rejected the supergraph (${services.map((s) => s.name).join(', ')}):`);
  for (const error of result.errors) {
    console.error(`  - ${error.message}`);
  }
  process.exit(1);
}
if (outputPath) {
  writeFileSync(outputPath, result.supergraphSdl);
}
console.log(`@theguild/federation-composition composed ${services.map((s) => s.name).join(', ')}: OK`);
