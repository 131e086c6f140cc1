/**
 * The OpenTelemetry packages, each loaded the first time a tracing plan uses it
 * (lib/lazy-module.ts): a gateway with no Telemetry resource never loads them, which is about
 * 5 MB of its idle resident memory. The SDK loads the same CommonJS files, so there is one
 * `@opentelemetry/api` (and one global context manager) whoever asked first.
 */
import type * as OtelApi from '@opentelemetry/api'
import type * as OtelCore from '@opentelemetry/core'
import type * as OtelB3 from '@opentelemetry/propagator-b3'
import type * as OtelResources from '@opentelemetry/resources'
import type * as OtelSdk from '@opentelemetry/sdk-trace-base'
import type * as ZipkinModule from '@opentelemetry/exporter-zipkin'
import type * as OtlpTransformer from '@opentelemetry/otlp-transformer'
import { lazyModule } from '../../lib/index.js'

export const otelApi = lazyModule<typeof OtelApi>('@opentelemetry/api')
export const otelCore = lazyModule<typeof OtelCore>('@opentelemetry/core')
export const otelB3 = lazyModule<typeof OtelB3>('@opentelemetry/propagator-b3')
export const otelResources = lazyModule<typeof OtelResources>('@opentelemetry/resources')
export const otelSdk = lazyModule<typeof OtelSdk>('@opentelemetry/sdk-trace-base')
export const zipkinExporter = lazyModule<typeof ZipkinModule>('@opentelemetry/exporter-zipkin')
export const otlpTransformer = lazyModule<typeof OtlpTransformer>('@opentelemetry/otlp-transformer')
