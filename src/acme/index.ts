/**
 * acme/: certificates obtained from ACME issuers (cert-manager.io/v1 Certificate and Issuer)
 * and kept renewed; see docs/acme.md.
 */
export { createAcmeManager, type AcmeManager, type CertificateStatus } from './manager.js'
export { createMemoryChallengeStore, type ChallengeStore } from './challenge-store.js'
export { ensurePlaceholders } from './placeholders.js'
export { createAcmeStore, type AcmeStore } from './store/index.js'
export { usesTlsAlpn01 } from './uses-tls-alpn.js'
