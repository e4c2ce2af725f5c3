/*
 * kuma-dp's native DNS fast path (N-API, C11, Linux).
 *
 * One UDP socket served by one worker thread. The thread reads datagrams in batches with
 * recvmmsg(2), answers the A/AAAA questions for names of the VIP table from replies that
 * JavaScript built in advance (agent/dns/fast-path.ts decides what those bytes are; this
 * file only copies them and patches the query's ID, RD bit and name case), and writes the
 * answers in batches with sendmmsg(2). Every datagram it does not answer is handed, bytes
 * and sender address, to a JavaScript callback (a thread-safe function), where the general
 * DNS code decides; JavaScript replies through `reply()` on the same socket.
 *
 * The acceptance rules of `fast_answer` are those of fastAnswer() in agent/dns/fast-path.ts,
 * byte for byte: the unit tests compare the two on every variant and on corrupted packets.
 *
 * Exports (all synchronous):
 *   tableCreate(serialized) -> table         answer(table, packet) -> Buffer | null
 *   start(address, port, onMiss) -> server    port(server) -> number
 *   setTable(server, serialized)              reply(server, peer, bytes) -> 0 | errno
 *   stats(server) -> [received, answered, handed, dropped, sendErrors, truncated]
 *   close(server)
 * The serialized table is: u32 count, then per name u16 wireLen, the wire name (lower
 * case, root label included), and four replies (A, A+EDNS, AAAA, AAAA+EDNS), each
 * u16 length then bytes; big-endian.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
/* A query is a header, one question and at most an OPT record: far below this. Longer
 * datagrams are cut by the kernel (MSG_TRUNC) and counted, never answered. */
#define RX_SIZE 4096
#define MAX_REPLY 1024
#define MISS_QUEUE 4096

#define TYPE_A 1
#define TYPE_AAAA 28
#define TYPE_OPT 41
#define CLASS_IN 1

/* ---------------------------------------------------------------- the table */

typedef struct {
  const uint8_t *wire;
  uint32_t hash;
  uint16_t wire_len;
  const uint8_t *reply[4];
  uint16_t reply_len[4];
} entry_t;

typedef struct {
  uint8_t *blob;     /* a copy of the serialized table; entries point into it */
  entry_t *entries;
  uint32_t count;
  int32_t *slots;    /* open addressing, linear probing; -1 is empty */
  uint32_t mask;
} table_t;

static inline uint8_t fold(uint8_t b) { return (b >= 0x41 && b <= 0x5a) ? (uint8_t)(b | 0x20) : b; }

/* FNV-1a over the wire name with ASCII case folded (RFC 4343). */
static uint32_t name_hash(const uint8_t *p, size_t len) {
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; i < len; i++) h = (h ^ fold(p[i])) * 0x01000193u;
  return h;
}

static void table_free(table_t *t) {
  if (t == NULL) return;
  free(t->blob);
  free(t->entries);
  free(t->slots);
  free(t);
}

static uint32_t rd16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }

/* Parses a serialized table; NULL with `err` filled on any inconsistency. */
static table_t *table_parse(const uint8_t *src, size_t n, char *err, size_t errlen) {
  table_t *t = calloc(1, sizeof *t);
  if (t == NULL) return snprintf(err, errlen, "out of memory"), NULL;
  if (n < 4) {
    snprintf(err, errlen, "table: %zu bytes, expected at least the 4-byte count", n);
    return table_free(t), NULL;
  }
  t->blob = malloc(n);
  if (t->blob == NULL) return snprintf(err, errlen, "out of memory"), table_free(t), NULL;
  memcpy(t->blob, src, n);
  const uint8_t *p = t->blob;
  uint32_t count = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
  if (count > n / 10) {
    snprintf(err, errlen, "table: count %u does not fit in %zu bytes", count, n);
    return table_free(t), NULL;
  }
  t->entries = calloc(count ? count : 1, sizeof(entry_t));
  uint32_t size = 16;
  while (size < count * 2u) size <<= 1;
  t->slots = malloc(size * sizeof(int32_t));
  if (t->entries == NULL || t->slots == NULL) return snprintf(err, errlen, "out of memory"), table_free(t), NULL;
  memset(t->slots, 0xff, size * sizeof(int32_t));
  t->mask = size - 1;
  size_t pos = 4;
  for (uint32_t i = 0; i < count; i++) {
    entry_t *e = &t->entries[i];
    if (pos + 2 > n) goto short_input;
    e->wire_len = (uint16_t)rd16(p + pos);
    pos += 2;
    if (e->wire_len < 2 || e->wire_len > 255 || pos + e->wire_len > n) {
      snprintf(err, errlen, "table: entry %u: name length %u (valid: 2-255 within the input)", i, e->wire_len);
      return table_free(t), NULL;
    }
    e->wire = p + pos;
    pos += e->wire_len;
    for (int s = 0; s < 4; s++) {
      if (pos + 2 > n) goto short_input;
      e->reply_len[s] = (uint16_t)rd16(p + pos);
      pos += 2;
      /* A reply holds at least the header and the question, whose name we overwrite. */
      if (e->reply_len[s] < 12u + e->wire_len + 4u || e->reply_len[s] > MAX_REPLY || pos + e->reply_len[s] > n) {
        snprintf(err, errlen, "table: entry %u: reply %d length %u (valid: %u-%u within the input)", i, s, e->reply_len[s], 12u + e->wire_len + 4u, MAX_REPLY);
        return table_free(t), NULL;
      }
      e->reply[s] = p + pos;
      pos += e->reply_len[s];
    }
    e->hash = name_hash(e->wire, e->wire_len);
    uint32_t k = e->hash & t->mask;
    while (t->slots[k] >= 0) k = (k + 1) & t->mask;
    t->slots[k] = (int32_t)i;
  }
  if (pos != n) {
    snprintf(err, errlen, "table: %zu bytes left over after %u entries", n - pos, count);
    return table_free(t), NULL;
  }
  t->count = count;
  return t;
short_input:
  snprintf(err, errlen, "table: input ends inside an entry (%zu bytes)", n);
  return table_free(t), NULL;
}

/*
 * The reply to `q` (n bytes) when it is a plain A/AAAA query, optionally with one OPT
 * record, for a name in `t`: written to `out`, length returned. 0 declines (the general
 * path decides). The same rules, in the same order, as fastAnswer() in fast-path.ts.
 */
static size_t fast_answer(const table_t *t, const uint8_t *q, size_t n, uint8_t *out) {
  if (t == NULL || n < 19) return 0;
  if ((q[2] & 0xf8) != 0) return 0;
  if (q[4] != 0 || q[5] != 1 || q[6] != 0 || q[7] != 0 || q[8] != 0 || q[9] != 0 || q[10] != 0) return 0;
  uint8_t ar = q[11];
  if (ar > 1) return 0;
  size_t pos = 12;
  for (;;) {
    if (pos >= n) return 0;
    uint8_t len = q[pos];
    if (len == 0) break;
    if (len > 63) return 0;
    size_t end = pos + 1 + len;
    if (end > n) return 0;
    pos = end;
  }
  size_t name_end = pos + 1;
  size_t q_end = name_end + 4;
  if (q_end > n) return 0;
  if (q[name_end + 2] != 0 || q[name_end + 3] != CLASS_IN || q[name_end] != 0) return 0;
  uint8_t qtype = q[name_end + 1];
  int slot = qtype == TYPE_A ? 0 : qtype == TYPE_AAAA ? 2 : -1;
  if (slot < 0) return 0;
  if (ar == 1) {
    if (q_end + 11 > n || q[q_end] != 0 || q[q_end + 1] != 0 || q[q_end + 2] != TYPE_OPT) return 0;
    slot++;
  }
  size_t name_len = name_end - 12;
  uint32_t h = name_hash(q + 12, name_len);
  for (uint32_t k = h & t->mask;; k = (k + 1) & t->mask) {
    int32_t i = t->slots[k];
    if (i < 0) return 0;
    const entry_t *e = &t->entries[i];
    if (e->hash != h || e->wire_len != name_len) continue;
    size_t j = 0;
    while (j < name_len && fold(q[12 + j]) == e->wire[j]) j++;
    if (j != name_len) continue;
    size_t rlen = e->reply_len[slot];
    memcpy(out, e->reply[slot], rlen);
    out[0] = q[0];
    out[1] = q[1];
    out[2] |= q[2] & 0x01; /* RD echoed (RFC 1035 4.1.1) */
    memcpy(out + 12, q + 12, name_len); /* the name as sent: 0x20 case randomisation survives */
    return rlen;
  }
}

/* ---------------------------------------------------------------- the server */

typedef struct server {
  int fd;
  int wake_fd;
  int port;
  pthread_t thread;
  int thread_started;
  atomic_int closed;
  atomic_int refs; /* the JS handle and the thread-safe function */
  pthread_mutex_t lock; /* guards `table` between the worker's batches and setTable */
  table_t *table;
  napi_threadsafe_function tsfn;
  atomic_int tsfn_gone; /* Node finalized it (at environment teardown) */
  napi_env env;
  atomic_uint_fast64_t received, answered, handed, dropped, send_errors, truncated;
} server_t;

typedef struct {
  uint32_t len;
  uint32_t addr_len;
  uint8_t bytes[]; /* the datagram, then the sender's sockaddr */
} miss_t;

static void server_unref(server_t *s) {
  if (atomic_fetch_sub(&s->refs, 1) != 1) return;
  pthread_mutex_destroy(&s->lock);
  table_free(s->table);
  free(s);
}

typedef struct {
  uint8_t rx[BATCH][RX_SIZE];
  uint8_t tx[BATCH][MAX_REPLY];
  struct sockaddr_storage from[BATCH];
  struct iovec rx_iov[BATCH], tx_iov[BATCH];
  struct mmsghdr rx_msg[BATCH], tx_msg[BATCH];
} batch_t;

static void send_all(server_t *s, struct mmsghdr *msgs, unsigned count) {
  unsigned done = 0;
  while (done < count) {
    int r = sendmmsg(s->fd, msgs + done, count - done, 0);
    if (r > 0) {
      done += (unsigned)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      /* The first datagram left failed (an unreachable or invalid destination): skip it. */
      atomic_fetch_add(&s->send_errors, 1);
      done++;
    }
  }
}

static void *worker(void *arg) {
  server_t *s = arg;
  batch_t *b = calloc(1, sizeof *b);
  if (b == NULL) return NULL;
  for (int i = 0; i < BATCH; i++) {
    b->rx_iov[i] = (struct iovec){ .iov_base = b->rx[i], .iov_len = RX_SIZE };
    b->tx_iov[i] = (struct iovec){ .iov_base = b->tx[i], .iov_len = 0 };
  }
  struct pollfd pfd[2] = { { .fd = s->fd, .events = POLLIN }, { .fd = s->wake_fd, .events = POLLIN } };
  while (!atomic_load(&s->closed)) {
    for (int i = 0; i < BATCH; i++) {
      b->rx_msg[i].msg_hdr = (struct msghdr){ .msg_name = &b->from[i], .msg_namelen = sizeof b->from[i], .msg_iov = &b->rx_iov[i], .msg_iovlen = 1 };
    }
    int n = recvmmsg(s->fd, b->rx_msg, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        /* ICMP-reported errors and the like: nothing was read; wait for the next datagram. */
      }
      int r = poll(pfd, 2, -1);
      if (r > 0 && (pfd[1].revents & POLLIN)) break;
      continue;
    }
    unsigned out = 0;
    pthread_mutex_lock(&s->lock);
    const table_t *t = s->table;
    for (int i = 0; i < n; i++) {
      struct msghdr *h = &b->rx_msg[i].msg_hdr;
      size_t len = b->rx_msg[i].msg_len;
      atomic_fetch_add_explicit(&s->received, 1, memory_order_relaxed);
      if (h->msg_flags & MSG_TRUNC) {
        atomic_fetch_add_explicit(&s->truncated, 1, memory_order_relaxed);
        continue;
      }
      size_t rlen = fast_answer(t, b->rx[i], len, b->tx[out]);
      if (rlen > 0) {
        b->tx_iov[out].iov_len = rlen;
        b->tx_msg[out].msg_hdr = (struct msghdr){ .msg_name = &b->from[i], .msg_namelen = h->msg_namelen, .msg_iov = &b->tx_iov[out], .msg_iovlen = 1 };
        out++;
        continue;
      }
      miss_t *m = malloc(sizeof *m + len + h->msg_namelen);
      if (m == NULL) {
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
        continue;
      }
      m->len = (uint32_t)len;
      m->addr_len = h->msg_namelen;
      memcpy(m->bytes, b->rx[i], len);
      memcpy(m->bytes + len, &b->from[i], h->msg_namelen);
      if (napi_call_threadsafe_function(s->tsfn, m, napi_tsfn_nonblocking) != napi_ok) {
        free(m);
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
      } else {
        atomic_fetch_add_explicit(&s->handed, 1, memory_order_relaxed);
      }
    }
    pthread_mutex_unlock(&s->lock);
    if (out > 0) {
      send_all(s, b->tx_msg, out);
      atomic_fetch_add_explicit(&s->answered, out, memory_order_relaxed);
    }
  }
  free(b);
  return NULL;
}

static void cleanup_hook(void *arg);

/* Stops the worker and closes the socket; idempotent; main thread only. */
static void server_close(server_t *s, int from_hook) {
  if (atomic_exchange(&s->closed, 1)) return;
  uint64_t one = 1;
  if (write(s->wake_fd, &one, sizeof one) < 0) { /* the worker also checks `closed` */ }
  if (s->thread_started) pthread_join(s->thread, NULL);
  close(s->fd);
  close(s->wake_fd);
  if (!from_hook) napi_remove_env_cleanup_hook(s->env, cleanup_hook, s);
  /* Datagrams still queued for JavaScript are freed by call_js (called without env). */
  if (!atomic_load(&s->tsfn_gone)) napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
}

/*
 * The environment is going away with the server open (process exit): stop the worker
 * before Node finalizes the thread-safe function it calls. Hooks run newest first, and
 * this one is added after the function is created, so it runs before the function's own.
 */
static void cleanup_hook(void *arg) { server_close(arg, 1); }

/* ---------------------------------------------------------------- N-API glue */

#define CHECK(call)                                     \
  do {                                                  \
    if ((call) != napi_ok) {                            \
      napi_throw_error(env, NULL, "kuma_dns: " #call);  \
      return NULL;                                      \
    }                                                   \
  } while (0)

static napi_value throw_msg(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static int get_buffer(napi_env env, napi_value v, const uint8_t **data, size_t *len) {
  bool is;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return 0;
  void *d;
  if (napi_get_buffer_info(env, v, &d, len) != napi_ok) return 0;
  *data = d;
  return 1;
}

static void table_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  table_free(data);
}

static napi_value js_table_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const uint8_t *src;
  size_t n;
  if (argc < 1 || !get_buffer(env, argv[0], &src, &n)) return throw_msg(env, "ERR_INVALID_ARG_TYPE", "tableCreate: expected a Buffer");
  char err[160];
  table_t *t = table_parse(src, n, err, sizeof err);
  if (t == NULL) return throw_msg(env, "ERR_DNS_TABLE", err);
  napi_value ext;
  if (napi_create_external(env, t, table_finalize, NULL, &ext) != napi_ok) {
    table_free(t);
    return throw_msg(env, NULL, "kuma_dns: napi_create_external");
  }
  return ext;
}

static napi_value js_answer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *t;
  const uint8_t *q;
  size_t n;
  if (argc < 2 || napi_get_value_external(env, argv[0], &t) != napi_ok || !get_buffer(env, argv[1], &q, &n))
    return throw_msg(env, "ERR_INVALID_ARG_TYPE", "answer: expected (table, Buffer)");
  uint8_t out[MAX_REPLY];
  size_t len = fast_answer(t, q, n, out);
  napi_value result;
  if (len == 0) {
    CHECK(napi_get_null(env, &result));
    return result;
  }
  void *copy;
  CHECK(napi_create_buffer_copy(env, len, out, &copy, &result));
  return result;
}

static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  server_t *s = context;
  miss_t *m = data;
  if (env != NULL && cb != NULL && !atomic_load(&s->closed)) {
    napi_value args[2], global, ignored;
    void *copy;
    if (napi_create_buffer_copy(env, m->len, m->bytes, &copy, &args[0]) == napi_ok &&
        napi_create_buffer_copy(env, m->addr_len, m->bytes + m->len, &copy, &args[1]) == napi_ok &&
        napi_get_global(env, &global) == napi_ok) {
      napi_call_function(env, global, cb, 2, args, &ignored);
    }
  }
  free(m);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  server_t *s = data;
  atomic_store(&s->tsfn_gone, 1);
  server_unref(s);
}

static void server_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  server_t *s = data;
  server_close(s, 0);
  server_unref(s);
}

static server_t *get_server(napi_env env, napi_value v) {
  void *s;
  if (napi_get_value_external(env, v, &s) != napi_ok) return NULL;
  return s;
}

/* start(address, port, onMiss) -> server: binds the socket and starts the worker. */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char address[64];
  size_t alen;
  int32_t port;
  napi_valuetype cbtype = napi_undefined;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], address, sizeof address, &alen) != napi_ok ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok || napi_typeof(env, argv[2], &cbtype) != napi_ok || cbtype != napi_function)
    return throw_msg(env, "ERR_INVALID_ARG_TYPE", "start: expected (address: string, port: number, onMiss: function)");
  if (port < 0 || port > 65535) return throw_msg(env, "ERR_OUT_OF_RANGE", "start: port must be 0-65535");

  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sslen;
  int family;
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    family = AF_INET;
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    sslen = sizeof *v4;
  } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    sslen = sizeof *v6;
  } else {
    return throw_msg(env, "ERR_INVALID_ADDRESS", "start: address must be an IPv4 or IPv6 literal");
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_msg(env, "ERR_SOCKET", strerror(errno));
  if (family == AF_INET6) {
    int off = 0; /* dual stack, as node:dgram's udp6 */
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
    int e = errno;
    close(fd);
    return throw_msg(env, e == EADDRINUSE ? "EADDRINUSE" : "ERR_SOCKET", strerror(e));
  }
  socklen_t got = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &got);
  int bound = ntohs(family == AF_INET ? v4->sin_port : v6->sin6_port);
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    close(fd);
    return throw_msg(env, "ERR_SOCKET", strerror(errno));
  }

  server_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    close(wake);
    return throw_msg(env, NULL, "out of memory");
  }
  s->fd = fd;
  s->wake_fd = wake;
  s->port = bound;
  atomic_init(&s->refs, 2);
  pthread_mutex_init(&s->lock, NULL);
  napi_value name;
  napi_create_string_utf8(env, "kuma-dns-miss", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, MISS_QUEUE, 1, s, tsfn_finalize, s, call_js, &s->tsfn) != napi_ok) {
    close(fd);
    close(wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return throw_msg(env, NULL, "kuma_dns: napi_create_threadsafe_function");
  }
  napi_value ext;
  if (napi_create_external(env, s, server_finalize, NULL, &ext) != napi_ok) {
    atomic_store(&s->closed, 1);
    close(fd);
    close(wake);
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort); /* unrefs once */
    server_unref(s);
    return throw_msg(env, NULL, "kuma_dns: napi_create_external");
  }
  s->env = env;
  napi_add_env_cleanup_hook(env, cleanup_hook, s);
  int e = pthread_create(&s->thread, NULL, worker, s);
  if (e != 0) {
    server_close(s, 0);
    return throw_msg(env, "ERR_THREAD", strerror(e));
  }
  s->thread_started = 1;
  return ext;
}

static napi_value js_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc ? get_server(env, argv[0]) : NULL;
  if (s == NULL) return throw_msg(env, "ERR_INVALID_ARG_TYPE", "port: expected a server");
  CHECK(napi_create_int32(env, s->port, &r));
  return r;
}

static napi_value js_set_table(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc >= 1 ? get_server(env, argv[0]) : NULL;
  const uint8_t *src;
  size_t n;
  if (s == NULL || argc < 2 || !get_buffer(env, argv[1], &src, &n)) return throw_msg(env, "ERR_INVALID_ARG_TYPE", "setTable: expected (server, Buffer)");
  char err[160];
  table_t *t = table_parse(src, n, err, sizeof err);
  if (t == NULL) return throw_msg(env, "ERR_DNS_TABLE", err);
  pthread_mutex_lock(&s->lock);
  table_t *old = s->table;
  s->table = t;
  pthread_mutex_unlock(&s->lock);
  table_free(old);
  return undefined(env);
}

static napi_value js_reply(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], r;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc >= 1 ? get_server(env, argv[0]) : NULL;
  const uint8_t *peer, *bytes;
  size_t plen, blen;
  if (s == NULL || argc < 3 || !get_buffer(env, argv[1], &peer, &plen) || !get_buffer(env, argv[2], &bytes, &blen) || plen > sizeof(struct sockaddr_storage))
    return throw_msg(env, "ERR_INVALID_ARG_TYPE", "reply: expected (server, peer: Buffer, bytes: Buffer)");
  int code = 0;
  if (atomic_load(&s->closed)) {
    code = EBADF;
  } else {
    struct sockaddr_storage to;
    memcpy(&to, peer, plen);
    ssize_t w;
    do w = sendto(s->fd, bytes, blen, MSG_DONTWAIT, (struct sockaddr *)&to, (socklen_t)plen);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
      code = errno;
      atomic_fetch_add(&s->send_errors, 1);
    }
  }
  CHECK(napi_create_int32(env, code, &r));
  return r;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr, v;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc ? get_server(env, argv[0]) : NULL;
  if (s == NULL) return throw_msg(env, "ERR_INVALID_ARG_TYPE", "stats: expected a server");
  uint64_t vals[6] = { atomic_load(&s->received), atomic_load(&s->answered), atomic_load(&s->handed),
                       atomic_load(&s->dropped), atomic_load(&s->send_errors), atomic_load(&s->truncated) };
  CHECK(napi_create_array_with_length(env, 6, &arr));
  for (uint32_t i = 0; i < 6; i++) {
    CHECK(napi_create_double(env, (double)vals[i], &v));
    CHECK(napi_set_element(env, arr, i, v));
  }
  return arr;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc ? get_server(env, argv[0]) : NULL;
  if (s == NULL) return throw_msg(env, "ERR_INVALID_ARG_TYPE", "close: expected a server");
  server_close(s, 0);
  return undefined(env);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "tableCreate", NULL, js_table_create, NULL, NULL, NULL, napi_enumerable, NULL },
    { "answer", NULL, js_answer, NULL, NULL, NULL, napi_enumerable, NULL },
    { "start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL },
    { "port", NULL, js_port, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setTable", NULL, js_set_table, NULL, NULL, NULL, napi_enumerable, NULL },
    { "reply", NULL, js_reply, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
