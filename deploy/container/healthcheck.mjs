// The image's HEALTHCHECK: distroless has no shell or curl, so node asks the readiness endpoint.
// Exit 0 when it answers 200 within the timeout, 1 otherwise.
const port = process.env.PORTCULLIS_READINESS_PORT ?? '15021'
const controller = new AbortController()
const timer = setTimeout(() => controller.abort(), 2500)
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz/ready`, { signal: controller.signal })
  process.exitCode = res.status === 200 ? 0 : 1
} catch {
  process.exitCode = 1
} finally {
  clearTimeout(timer)
}
