/**
 * The footprint floor: the smallest Node HTTP server that answers a probe, measured the same way
 * as the gate. Whatever the gate uses above this is the cost of its own code and libraries.
 */
import http from 'node:http';

http.createServer((_req, res) => res.end('ok')).listen(Number(process.env.PORT), '0.0.0.0');
