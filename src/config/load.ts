/**
 * Reads config files into YAML documents that remember positions (documents.ts adds the fast
 * path in front of the `yaml` package's parse). Paths may be files or
 * directories (every .yaml/.yml inside, sorted). Documents are parsed as YAML 1.2 (see
 * docs/adr/0003-yaml-parsing.md): `on`/`yes` stay strings and `.` is not a number.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, isAbsolute } from 'node:path'
import {
  isMap,
  isPair,
  isScalar,
  LineCounter,
  parseAllDocuments,
  Scalar,
  visit,
  type Document,
} from 'yaml'
import type { Diagnostic } from '../diag/index.js'

export interface SourceFile {
  /** The path as shown in diagnostics (relative to cwd when under it). */
  readonly display: string
  readonly absolute: string
  readonly text: string
}

/** A document as the `yaml` package parsed it, with every node's source range. */
export interface YamlDoc {
  readonly file: SourceFile
  readonly index: number
  readonly doc: Document.Parsed
  readonly lines: LineCounter
}

function displayPath(p: string): string {
  const rel = relative(process.cwd(), p)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p
}

/** Expands the given paths to config files. Missing paths are diagnostics, not exceptions. */
/** The files `paths` name (a directory gives its `.yaml`/`.yml` files, sorted); PC1007 when none. */
export function collectConfigFiles(paths: readonly string[], diags: Diagnostic[]): string[] {
  const files = collectFiles(paths, diags)
  if (files.length === 0 && diags.length === 0) {
    diags.push({
      code: 'PC1007',
      severity: 'error',
      message: `no .yaml or .yml files in ${paths.join(', ')}`,
    })
  }
  return files
}

function collectFiles(paths: readonly string[], diags: Diagnostic[]): string[] {
  const out: string[] = []
  for (const p of paths) {
    let st
    try {
      st = statSync(p)
    } catch (e) {
      diags.push({
        code: 'PC1001',
        severity: 'error',
        message: `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
        loc: { file: displayPath(p), line: 1, col: 1 },
      })
      continue
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) {
        if (/\.ya?ml$/.test(name) && !name.startsWith('.')) out.push(join(p, name))
      }
    } else {
      out.push(p)
    }
  }
  return out
}

export function readSource(path: string, diags: Diagnostic[]): SourceFile | undefined {
  try {
    return { display: displayPath(path), absolute: path, text: readFileSync(path, 'utf8') }
  } catch (e) {
    diags.push({
      code: 'PC1001',
      severity: 'error',
      message: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      loc: { file: displayPath(path), line: 1, col: 1 },
    })
    return undefined
  }
}

/** Splits a file into documents; YAML errors become PC1002 with their position. */
export function parseYaml(file: SourceFile, diags: Diagnostic[]): YamlDoc[] {
  const lines = new LineCounter()
  const docs = parseAllDocuments(file.text, {
    lineCounter: lines,
    version: '1.2',
    uniqueKeys: true,
    prettyErrors: false,
  })
  const out: YamlDoc[] = []
  const list = Array.isArray(docs) ? docs : [docs]
  list.forEach((doc, index) => {
    for (const err of doc.errors) {
      const pos = lines.linePos(err.pos[0])
      diags.push({
        code: 'PC1002',
        severity: 'error',
        message: err.message.split('\n')[0] ?? err.message,
        loc: { file: file.display, line: pos.line, col: pos.col },
      })
    }
    for (const w of doc.warnings) {
      const pos = lines.linePos(w.pos[0])
      diags.push({
        code: 'PC1008',
        severity: 'warning',
        message: w.message.split('\n')[0] ?? w.message,
        loc: { file: file.display, line: pos.line, col: pos.col },
      })
    }
    if (doc.errors.length === 0) {
      keepColonScalarsInFlowLists(doc, file.text)
      out.push({ file, index, doc, lines })
    }
  })
  return out
}

/**
 * In a flow list, `[1.2.3.4, 2001:db8::]` makes YAML 1.2 read the IPv6 address as a one-key map
 * (`{"2001:db8:": null}`), while kubectl's libyaml-based parser keeps it a string. We do what
 * kubectl does: a single null-valued entry with no space in its source text is that text.
 */
export function keepColonScalarsInFlowLists(doc: Document, text: string): void {
  visit(doc, {
    Seq(_key, seq) {
      seq.items.forEach((item, i) => {
        if (
          !isMap(item) ||
          item.items.length !== 1 ||
          item.range === undefined ||
          item.range === null
        )
          return
        const pair = item.items[0]
        if (
          !isPair(pair) ||
          !(pair.value === null || (isScalar(pair.value) && pair.value.value === null))
        )
          return
        const src = text.slice(item.range[0], item.range[1])
        if (!/^[^\s{}[\],]+$/.test(src) || !src.endsWith(':')) return
        const scalar = new Scalar(src)
        scalar.range = item.range
        seq.items[i] = scalar
      })
    },
  })
}
