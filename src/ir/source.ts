/** Where an IR element came from, so logs, describe and validate can point at the YAML. */
export interface SourceRef {
  readonly kind: string
  readonly namespace: string
  readonly name: string
  /** Field path inside the resource, e.g. `spec.http[2]`. */
  readonly path: string
  readonly file: string
  readonly line: number
}
