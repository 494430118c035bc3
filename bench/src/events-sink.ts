import { createServer } from 'node:http';

/**
 * The events suite's control: an HTTP server in a process of its own that takes POSTs, reads their
 * bodies and answers 202 with a body like the API's, doing nothing else. The same events load sent
 * here instead of to the API costs the machine what the senders and loopback HTTP cost, without any
 * work of the API: queries slowed by that load are slowed by the machine, not by the event path.
 */
const ANSWER = JSON.stringify({ accepted: 0, duplicates: 0, rejected: 0, rejections: [] });

function run(): void {
  const server = createServer((request, response) => {
    request.on('data', () => undefined);
    request.on('end', () => {
      response.writeHead(202, { 'content-type': 'application/json' });
      response.end(ANSWER);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address && typeof address === 'object') process.send?.({ port: address.port });
  });
  process.on('disconnect', () => process.exit(0));
}

// Forked by events.ts.
if (require.main === module && process.send) run();
