// Feasibility probe for issue 4, not product code: a UDP DNS responder answering A
// queries for the names of a table, batching with recvmmsg/sendmmsg. Usage: mmsg-dns <port> <table>
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#define BATCH 64
#define MAXN 4096
static char names[MAXN][256]; static int nlen[MAXN]; static unsigned char ips[MAXN][4]; static int count;
static int lookup(const unsigned char *q, int qlen) {
  for (int i = 0; i < count; i++) if (nlen[i] == qlen && strncasecmp((const char*)q, names[i], qlen) == 0) return i;
  return -1;
}
int main(int argc, char **argv) {
  FILE *f = fopen(argv[2], "r"); char nm[256], ip[64];
  while (count < MAXN && fscanf(f, "%255s %63s", nm, ip) == 2) {
    // store name in wire format
    int p = 0; char *tok = strtok(nm, ".");
    while (tok) { int l = strlen(tok); names[count][p++] = l; memcpy(names[count] + p, tok, l); p += l; tok = strtok(NULL, "."); }
    names[count][p++] = 0; nlen[count] = p; inet_pton(AF_INET, ip, ips[count]); count++;
  }
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) }; inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(s, (struct sockaddr*)&a, sizeof a)) { perror("bind"); return 1; }
  static unsigned char in[BATCH][512], out[BATCH][600]; struct mmsghdr rm[BATCH], sm[BATCH]; struct iovec riov[BATCH], siov[BATCH]; struct sockaddr_in peers[BATCH];
  for (int i = 0; i < BATCH; i++) {
    riov[i] = (struct iovec){ in[i], 512 };
    rm[i].msg_hdr = (struct msghdr){ .msg_name = &peers[i], .msg_namelen = sizeof peers[i], .msg_iov = &riov[i], .msg_iovlen = 1 };
  }
  for (;;) {
    for (int i = 0; i < BATCH; i++) rm[i].msg_hdr.msg_namelen = sizeof peers[i];
    int n = recvmmsg(s, rm, BATCH, MSG_WAITFORONE, NULL);
    if (n <= 0) continue;
    int k = 0;
    for (int i = 0; i < n; i++) {
      int len = rm[i].msg_len; unsigned char *q = in[i];
      if (len < 17 || (q[2] & 0x80) || q[4] != 0 || q[5] != 1) continue;
      int p = 12; while (p < len && q[p]) p += q[p] + 1; if (p + 5 > len) continue;
      int qn = p + 1 - 12; int qend = p + 5; int qtype = (q[p+1] << 8) | q[p+2];
      int idx = lookup(q + 12, qn);
      unsigned char *r = out[k]; memcpy(r, q, qend);
      r[2] = 0x84 | (q[2] & 0x01); r[3] = idx < 0 ? 3 : 0; r[6] = 0; r[7] = (idx >= 0 && qtype == 1) ? 1 : 0; r[8] = r[9] = r[10] = r[11] = 0;
      int rl = qend;
      if (r[7]) { unsigned char ans[16] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4 }; memcpy(ans + 12, ips[idx], 4); memcpy(r + rl, ans, 16); rl += 16; }
      siov[k] = (struct iovec){ r, rl };
      sm[k].msg_hdr = (struct msghdr){ .msg_name = &peers[i], .msg_namelen = sizeof peers[i], .msg_iov = &siov[k], .msg_iovlen = 1 };
      k++;
    }
    if (k) sendmmsg(s, sm, k, 0);
  }
}
