// The proxy a Node user would reach for: fastify with @fastify/http-proxy (undici underneath),
// forwarding every path to the bench upstream. Env: UPSTREAM_PORT (required), PORT (default 0),
// TLS_CERT_FILE and TLS_KEY_FILE (serve HTTPS). Prints `listening <port>`.
import { readFileSync } from 'node:fs'
import proxy from '@fastify/http-proxy'
import Fastify from 'fastify'

const certFile = process.env['TLS_CERT_FILE']
const keyFile = process.env['TLS_KEY_FILE']
const https =
  certFile !== undefined && keyFile !== undefined
    ? { https: { cert: readFileSync(certFile), key: readFileSync(keyFile) } }
    : {}

const app = Fastify({ logger: false, keepAliveTimeout: 65_000, ...https })
await app.register(proxy, { upstream: `http://127.0.0.1:${process.env['UPSTREAM_PORT'] ?? ''}` })
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env['PORT'] ?? 0) })
console.log(`listening ${new URL(address).port}`)
