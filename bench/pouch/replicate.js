// The PouchDB side's station: a local in-memory PouchDB holding the same
// applications as documents, replicated one way to the server.
// Usage: node replicate.js DOCS.json REMOTE_URL
// DOCS.json is a list of applications, each a list of the successive
// states of the document (one per event of the application, as a
// CouchDB-style station would save it after each step), so every
// document carries its revision history. It loads them, prints
// {"phase":"loaded",...}, then on each line read from stdin ("go")
// replicates to REMOTE_URL and prints {"phase":"replicated","ms":...,
// "docs_written":...}; EOF ends it.
const fs = require('fs');
const readline = require('readline');
const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-memory'))
  .plugin(require('pouchdb-adapter-http'))
  .plugin(require('pouchdb-replication'));

async function main() {
  const apps = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const remote = process.argv[3];
  const local = new PouchDB('village', { adapter: 'memory' });
  let revs = 0;
  for (const states of apps) {
    let rev;
    for (const s of states) {
      const doc = Object.assign({}, s);
      if (rev) doc._rev = rev;
      rev = (await local.put(doc)).rev;
      revs++;
    }
  }
  console.log(JSON.stringify({ phase: 'loaded', docs: apps.length, revisions: revs }));
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const db = new PouchDB(remote);
    const t0 = process.hrtime.bigint();
    const r = await local.replicate.to(db);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(JSON.stringify({ phase: 'replicated', ms, docs_written: r.docs_written, ok: r.ok }));
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
