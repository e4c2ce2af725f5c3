/**
 * Node's own HTTP/1 parser (llhttp, through the binding node:http itself runs on), typed
 * for the lean forwarder. The binding calls its callbacks by index; the indices, the
 * method table and the lenient flags come from the module, not from constants of ours.
 */
// node:_http_common has no published types; it is the module node:http builds on.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const common = require('node:_http_common') as {
  HTTPParser: ParserClass;
  methods: string[];
};

/** What execute() returns: bytes consumed, or a parse error carrying `code` and `bytesParsed`. */
export type ExecuteResult = number | (Error & { code?: string; bytesParsed?: number; reason?: string });

/** One llhttp parser instance. */
export interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): ExecuteResult;
  finish(): ExecuteResult | undefined;
  close(): void;
  free(): void;
  [key: number]: unknown;
}

interface ParserClass {
  new (): Parser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kLenientNone: number;
}

/** The parser class. */
export const HTTPParser = common.HTTPParser;
/** Method names by the index onHeadersComplete reports. */
export const METHODS = common.methods;

/**
 * onHeadersComplete's return values (llhttp's on_headers_complete): go on, skip the body
 * (a response to HEAD), or stop after the head (llhttp treats the rest as another protocol).
 */
export const PROCEED = 0;
export const SKIP_BODY = 1;
export const STOP_AFTER_HEAD = 2;

/** Node's default limit on the size of a message head (--max-http-header-size). */
export const MAX_HEADER_SIZE = 16 * 1024;
