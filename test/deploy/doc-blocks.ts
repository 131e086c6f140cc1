// The fenced code blocks of a Markdown page, grouped by the `## ` section they appear in, so that
// a test can run each command exactly as the page prints it.
import { readFileSync } from 'node:fs'

export interface DocBlock {
  readonly section: string
  readonly lang: string
  readonly text: string
}

export function docBlocks(file: string): DocBlock[] {
  const blocks: DocBlock[] = []
  let section = ''
  let open: { lang: string; lines: string[] } | undefined
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (open !== undefined) {
      if (line.startsWith('```')) {
        blocks.push({ section, lang: open.lang, text: open.lines.join('\n') + '\n' })
        open = undefined
      } else open.lines.push(line)
    } else if (line.startsWith('```')) open = { lang: line.slice(3).trim(), lines: [] }
    else if (line.startsWith('## ')) section = line.slice(3).trim()
  }
  return blocks
}

/** The blocks of one section and language, in page order. */
export function blocksOf(file: string, section: string, lang: string): string[] {
  return docBlocks(file)
    .filter((b) => b.section === section && b.lang === lang)
    .map((b) => b.text)
}
