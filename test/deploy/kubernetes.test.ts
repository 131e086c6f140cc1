// deploy/kubernetes rendered offline with `kubectl kustomize`, every object validated against
// the Kubernetes schemas (kubernetes-models), and the references between them checked: Service
// and PDB selectors reach the pods, Service target ports are container ports and the Gateway's
// server (or outbound) ports, the readiness probe is the config's readiness endpoint, the grace
// period covers preStop + drainTimeout, TLS Secrets are mounted where credentialName reads, the
// ConfigMap is mounted where the container's -c points, and its gateway.yaml passes validate.
// With ACME Certificates (overlays/acme): the certs directory is writable and no Secret hides the
// credential the gateway writes, the encryption key Secret is mounted where
// redis.acme.encryptionKeyFile reads it, and the CA's http-01 request on Service port 80 reaches
// an HTTP server of the config.
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return --
   rendered manifests are untyped YAML here; kubernetes-models is what checks their shape. */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import * as apps from 'kubernetes-models/apps/v1'
import * as core from 'kubernetes-models/v1'
import * as networking from 'kubernetes-models/networking.k8s.io/v1'
import * as policy from 'kubernetes-models/policy/v1'
import { parseAllDocuments } from 'yaml'
import { createCa, issueCertificate } from '../../src/cli/cert-forge.js'
import { REPO_ROOT } from '../e2e/harness/index.js'

const OVERLAYS = ['ingress', 'egress', 'shared-limits', 'acme']
const hasKubectl = spawnSync('kubectl', ['version', '--client']).status === 0

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any

const MODELS: Record<string, new (o: Obj) => { validate(): void }> = {
  'apps/v1/Deployment': apps.Deployment,
  'v1/Service': core.Service,
  'v1/ConfigMap': core.ConfigMap,
  'v1/Secret': core.Secret,
  'policy/v1/PodDisruptionBudget': policy.PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': networking.NetworkPolicy,
}

function render(overlay: string): Obj[] {
  const r = spawnSync(
    'kubectl',
    ['kustomize', join(REPO_ROOT, 'deploy/kubernetes/overlays', overlay)],
    {
      encoding: 'utf8',
      timeout: 120_000,
    },
  )
  assert.equal(r.status, 0, r.stderr)
  return parseAllDocuments(r.stdout).map((d) => d.toJS())
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const keys = Object.keys(selector)
  return keys.length > 0 && keys.every((k) => labels[k] === selector[k])
}

function seconds(duration: string): number {
  const m = /^(\d+)s$/.exec(duration)
  assert.ok(m, `duration ${duration} in seconds`)
  return Number(m[1])
}

function validateConfig(
  yamlText: string,
  secrets: string[],
): { status: number | null; out: string } {
  // certsDir is rewritten to a scratch copy holding a certificate for each mounted Secret: the
  // config then validates only if every credentialName it uses is one of them.
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-k8s-'))
  try {
    const ca = createCa('k8s test CA')
    for (const name of secrets) {
      const leaf = issueCertificate(ca, { hosts: ['example.com'] })
      mkdirSync(join(dir, 'certs', name), { recursive: true })
      writeFileSync(join(dir, 'certs', name, 'tls.crt'), leaf.cert)
      writeFileSync(join(dir, 'certs', name, 'tls.key'), leaf.key)
    }
    const file = join(dir, 'gateway.yaml')
    writeFileSync(
      file,
      yamlText.replaceAll('certsDir: /etc/portcullis/certs', `certsDir: ${join(dir, 'certs')}`),
    )
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'src/main.ts'), 'validate', file],
      {
        encoding: 'utf8',
        cwd: REPO_ROOT,
        timeout: 120_000,
      },
    )
    return { status: r.status, out: r.stdout + r.stderr }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe(
  'deploy/kubernetes overlays',
  { skip: hasKubectl ? false : 'kubectl is not installed' },
  () => {
    for (const overlay of OVERLAYS) {
      test(`${overlay}: renders, validates against the schemas, and its references hold`, () => {
        const objects = render(overlay)
        for (const o of objects) {
          const model = MODELS[`${o.apiVersion}/${o.kind}`]
          assert.ok(model, `a schema for ${o.apiVersion} ${o.kind}`)
          assert.doesNotThrow(() => new model(o).validate(), `${o.kind} ${o.metadata.name}`)
        }
        const of = (kind: string, name: string): Obj =>
          objects.find((o) => o.kind === kind && o.metadata.name === name)
        const deployment = of('Deployment', 'portcullis')
        const pod = deployment.spec.template
        const container = pod.spec.containers.find((c: Obj) => c.name === 'portcullis')
        const podLabels = pod.metadata.labels as Record<string, string>
        assert.ok(deployment.spec.replicas >= 2, 'at least 2 replicas')
        assert.ok(pod.spec.affinity?.podAntiAffinity, 'anti-affinity')
        assert.ok(matches(deployment.spec.selector.matchLabels, podLabels))
        assert.ok(
          matches(of('PodDisruptionBudget', 'portcullis').spec.selector.matchLabels, podLabels),
        )
        const sc = container.securityContext
        assert.equal(sc.readOnlyRootFilesystem, true)
        assert.equal(sc.allowPrivilegeEscalation, false)
        assert.deepEqual(sc.capabilities.drop, ['ALL'])
        assert.equal(pod.spec.securityContext.runAsNonRoot, true)
        assert.ok(container.resources.limits.memory && container.resources.requests.cpu)

        // The config, from the ConfigMap mounted where -c points.
        const args = container.args as string[]
        const configPath = args[args.indexOf('-c') + 1]!
        const mount = container.volumeMounts.find((m: Obj) => m.mountPath === dirname(configPath))
        assert.ok(mount, `a volume at ${dirname(configPath)}`)
        const volume = pod.spec.volumes.find((v: Obj) => v.name === mount.name)
        assert.ok(
          volume.configMap,
          'the config directory is a ConfigMap volume (no subPath: updates arrive)',
        )
        assert.equal(mount.subPath, undefined)
        const configText = of('ConfigMap', volume.configMap.name).data['gateway.yaml'] as string
        const docs = parseAllDocuments(configText).map((d): Obj => d.toJS())
        const gc = docs.find((d) => d.kind === 'GatewayConfig').spec
        const readinessPort = gc.readiness?.port ?? 15021
        assert.equal(container.readinessProbe.httpGet.path, '/healthz/ready')
        assert.equal(container.readinessProbe.httpGet.port, readinessPort)

        // Grace period above preStop + drainTimeout.
        const preStop = container.lifecycle.preStop.exec.command.join(' ') as string
        const sleepMs = Number(/setTimeout\(\(\) => \{\}, (\d+)\)/.exec(preStop)?.[1] ?? 0)
        const drain = seconds(gc.drainTimeout ?? '25s')
        assert.ok(
          pod.spec.terminationGracePeriodSeconds > drain + sleepMs / 1000,
          `grace ${pod.spec.terminationGracePeriodSeconds}s > preStop ${sleepMs / 1000}s + drainTimeout ${drain}s`,
        )

        // TLS Secrets mounted at certsDir/<credentialName>; the ACME encryption key's elsewhere.
        const acmeKeyFile = gc.redis?.acme?.encryptionKeyFile as string | undefined
        let acmeKeySecret: Obj
        const secrets: string[] = []
        for (const m of container.volumeMounts as Obj[]) {
          const v = pod.spec.volumes.find((x: Obj) => x.name === m.name)
          if (v.secret === undefined) continue
          if (acmeKeyFile !== undefined && m.mountPath === dirname(acmeKeyFile)) {
            acmeKeySecret = v.secret
            continue
          }
          assert.equal(m.mountPath, `${gc.certsDir}/${v.secret.secretName}`)
          secrets.push(v.secret.secretName)
        }
        const result = validateConfig(configText, secrets)
        assert.equal(result.status, 0, result.out)

        // The Service reaches the pods on ports the config listens on.
        const containerPorts = new Set((container.ports as Obj[]).map((p) => p.containerPort))
        const listening = new Set<number>()
        for (const d of docs.filter((x) => x.kind === 'Gateway')) {
          for (const s of d.spec.servers) listening.add(s.port.number)
        }
        if (gc.outbound !== undefined) {
          listening.add(gc.outbound.port)
          containerPorts.add(gc.outbound.port)
        }
        const service = of('Service', 'portcullis')
        assert.ok(matches(service.spec.selector, podLabels), 'Service selector')
        for (const p of service.spec.ports) {
          assert.ok(
            listening.has(p.targetPort),
            `Service port ${p.port} → ${p.targetPort} is served`,
          )
        }
        for (const port of listening) {
          assert.ok(
            service.spec.ports.some((p: Obj) => p.targetPort === port),
            `listener ${port} has a Service port`,
          )
        }
        if (overlay !== 'egress') {
          assert.equal(service.spec.type, 'LoadBalancer')
          assert.equal(service.spec.externalTrafficPolicy, 'Local')
          for (const port of listening) assert.ok(containerPorts.has(port), `containerPort ${port}`)
        } else {
          assert.equal(service.spec.type, 'ClusterIP')
          const env = of('ConfigMap', 'portcullis-egress-proxy').data
          assert.equal(
            env.HTTPS_PROXY,
            `http://${service.metadata.name}:${service.spec.ports[0].port}`,
          )
          const only = of('NetworkPolicy', 'egress-only-through-portcullis')
          assert.deepEqual(only.spec.policyTypes, ['Egress'])
          assert.ok(
            matches(only.spec.egress[0].to[0].podSelector.matchLabels, podLabels),
            'other pods may only reach the gateway',
          )
        }
        const certificates = docs.filter((d) => d.kind === 'Certificate')
        if (certificates.length > 0) {
          const certsMount = container.volumeMounts.find((m: Obj) => m.mountPath === gc.certsDir)
          assert.ok(certsMount && certsMount.readOnly !== true, 'the certs directory is writable')
          const certsVolume = pod.spec.volumes.find((v: Obj) => v.name === certsMount.name)
          assert.ok(certsVolume.emptyDir, 'the certs directory is an emptyDir (Redis holds state)')
          const credentials = docs
            .filter((d) => d.kind === 'Gateway')
            .flatMap((d) => d.spec.servers.map((x: Obj) => x.tls?.credentialName))
          for (const c of certificates) {
            assert.ok(credentials.includes(c.spec.secretName), `${c.spec.secretName} is served`)
            assert.ok(!secrets.includes(c.spec.secretName), `no Secret hides ${c.spec.secretName}`)
          }
          assert.ok(acmeKeySecret, `a Secret mounted at ${dirname(acmeKeyFile ?? '?')}`)
          const keyName = acmeKeyFile!.slice(dirname(acmeKeyFile!).length + 1)
          assert.ok(
            acmeKeySecret.items === undefined ||
              acmeKeySecret.items.some((i: Obj) => i.path === keyName),
            `the Secret provides ${keyName}`,
          )
          // http-01: the CA asks on port 80; the Service sends it to a plain HTTP server.
          const http80 = service.spec.ports.find((p: Obj) => p.port === 80)
          const httpServers = docs
            .filter((d) => d.kind === 'Gateway')
            .flatMap((d) => d.spec.servers)
            .filter((x: Obj) => x.port.protocol === 'HTTP')
            .map((x: Obj) => x.port.number)
          assert.ok(http80 && httpServers.includes(http80.targetPort), 'port 80 → an HTTP server')
        }
        if (gc.redis !== undefined) {
          const redis = of('Service', 'portcullis-redis')
          const url = new URL(gc.redis.url as string)
          assert.equal(url.hostname, redis.metadata.name)
          assert.equal(Number(url.port), redis.spec.ports[0].port)
          assert.equal(gc.redis.expectedReplicas, deployment.spec.replicas)
        }
      })
    }
  },
)
