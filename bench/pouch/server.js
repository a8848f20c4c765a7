// The PouchDB side's server: express-pouchdb (the CouchDB HTTP API of
// pouchdb-server) over PouchDB with the in-memory adapter, on loopback.
// Usage: node server.js PORT   (prints "listening PORT" when ready)
const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-memory'))
  .plugin(require('pouchdb-adapter-http'))
  .plugin(require('pouchdb-mapreduce'))
  .plugin(require('pouchdb-replication'));
const MemPouch = PouchDB.defaults({ adapter: 'memory' });
const app = require('express-pouchdb')(MemPouch, { mode: 'minimumForPouchDB', inMemoryConfig: true, logPath: '/dev/null' });
const server = app.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log('listening ' + server.address().port);
});
process.on('SIGTERM', () => process.exit(0));
