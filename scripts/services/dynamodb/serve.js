// Runs dynalite as its cli.js does (--host, --port), but survives a client
// that disconnects in the middle of a request. dynalite throws from the
// request's 'error' event ("aborted", ECONNRESET), which ends the whole
// server: a chaos scenario that SIGKILLs a process talking to DynamoDB
// would take the shared test service down for every other test.
'use strict'
const argv = require('minimist')(process.argv.slice(2))

process.on('uncaughtException', (err) => {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error('dynamodb: a client went away mid-request (%s); serving on', err.message)
    return
  }
  console.error(err)
  process.exit(1)
})

const server = require('dynalite')(argv).listen(argv.port || 4567, argv.host || undefined, () => {
  const a = server.address()
  console.log('Dynalite listening at: http://%s:%s', argv.host || 'localhost', a.port)
})
