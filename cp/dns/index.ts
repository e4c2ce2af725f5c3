/** The zone CP's DNS server: pure answering, the name table, the UDP/TCP component. */
export { CpDnsServer, type CpDnsServerOptions, type VipSource } from './dns-server';
export { answer, DEFAULT_DNS_TTL, RCODE, type AnswerOptions } from './answer';
export { buildNameTable, MESH_DOMAIN, type NameEntry, type NameTable } from './name-table';
