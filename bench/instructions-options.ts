// The options of bench/instructions.ts, and the pairs it compares (with the bound on each ratio
// that the issues name). Its own module so that docs tests can parse a printed command without
// running the benchmark.

/** Each group: the target, the one it is compared with, and the bound on their ratio. */
export const PAIRS = {
  tracing: [
    ['tracing-unsampled', 'portcullis', 1.02],
    ['tracing-sampled', 'portcullis', 1.03],
  ],
  proxy: [['proxy-v2-new-conn', 'new-conn', 1.03]],
  // Issue 16: the gateway, with routing, response headers and metrics, at most the Node floor.
  floor: [['portcullis', 'floor', 1.0]],
} as const satisfies Record<string, readonly (readonly [string, string, number])[]>
export type Group = keyof typeof PAIRS

export interface InstructionOptions {
  readonly groups: Group[]
  /** Requests per measured window. */
  readonly requests: number
  readonly windows: number
  /** Requests before instrumentation is turned on (V8 tiers the hot code up meanwhile). */
  readonly warmup: number
  readonly idleSeconds: number
  /** Keep the callgrind dumps in bench/results/ (for callgrind_annotate). */
  readonly keepDumps: boolean
  /**
   * Also run a second process of each group's baseline side (`<side>-control`, the same config):
   * their ratio is the bench's own spread between two identical gateways, in the same run.
   */
  readonly control: boolean
  /** Only these sides of the groups (to look at one in detail); undefined: all. */
  readonly sides: readonly string[] | undefined
  /** Extra node flags for the gateway (V8 experiments). */
  readonly nodeFlags: readonly string[]
}

const NUMBERS = ['requests', 'windows', 'warmup', 'idle-seconds'] as const

function isGroup(name: string): name is Group {
  return Object.hasOwn(PAIRS, name)
}

export function parseInstructionOptions(argv: readonly string[]): InstructionOptions {
  const values = new Map<string, string>()
  let keepDumps = false
  let control = false
  for (const arg of argv) {
    if (arg === '--keep-dumps' || arg === '--control') {
      if (arg === '--keep-dumps') keepDumps = true
      else control = true
      continue
    }
    const m = /^--([a-z-]+)=(.*)$/.exec(arg)
    const known = ['only', 'sides', 'node-flags', ...NUMBERS]
    if (!m || !known.includes(m[1]!)) {
      throw new Error(
        `unknown option ${arg} (--only=${Object.keys(PAIRS).join(',')}, ` +
          `--sides=a,b, --node-flags="...", ${NUMBERS.map((n) => `--${n}=N`).join(', ')}, ` +
          '--keep-dumps, --control)',
      )
    }
    values.set(m[1]!, m[2]!)
  }
  const number = (name: (typeof NUMBERS)[number], fallback: number): number => {
    const raw = values.get(name)
    const n = raw === undefined ? fallback : Number(raw)
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`)
    return n
  }
  const groups: Group[] = []
  for (const g of (values.get('only') ?? Object.keys(PAIRS).join(',')).split(',')) {
    if (!isGroup(g))
      throw new Error(`--only: unknown ${g} (one of ${Object.keys(PAIRS).join(', ')})`)
    groups.push(g)
  }
  return {
    groups,
    requests: number('requests', 2000),
    windows: number('windows', 5),
    warmup: number('warmup', 40000),
    idleSeconds: number('idle-seconds', 5),
    keepDumps,
    control,
    sides: values.get('sides')?.split(','),
    nodeFlags: (values.get('node-flags') ?? '').split(' ').filter((f) => f !== ''),
  }
}
