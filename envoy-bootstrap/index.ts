/** Envoy bootstrap generation, shared by kuma-cp (POST /bootstrap) and kuma-dp. */
export * from './bootstrap';
