/*
 * tsnet launcher: installed as `tsnet` and under every CNI plugin name. Forwards one call to a
 * warm tsnet worker over a root-only unix socket and relays its output, or runs the Node entry
 * directly when no worker can be had. The contract is native/PROTOCOL.md; this file follows it.
 * Static, libc only, no allocation beyond what one call needs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MARKER "@@TSNET-LAUNCHER-CONFIG@@\n"
#define MAX_FRAME (16u * 1024 * 1024)
#define ACK_TIMEOUT_MS 10000
#define READY_TIMEOUT_MS 10000

/* Written by the installer right after the marker (key=value lines, NUL-ended). Volatile and
 * global so the compiler never folds the initial contents into the code. */
volatile char tsnet_launcher_config[4096] = MARKER;

extern char **environ;

static char node[PATH_MAX], root[PATH_MAX];
static const char *name;  /* basename(argv[0]) */
static int cni_mode;      /* a plugin (1) or the CLI (0) */

struct buf {
  char *p;
  size_t len, cap;
};

static void buf_add(struct buf *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      fputs("tsnet: out of memory\n", stderr);
      exit(1);
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s) + 1); }

/* ---------- configuration and entries ---------- */

static int read_config(void) {
  char cfg[sizeof tsnet_launcher_config + 1];
  for (size_t i = 0; i < sizeof tsnet_launcher_config; i++) cfg[i] = tsnet_launcher_config[i];
  cfg[sizeof tsnet_launcher_config] = '\0';
  char *line = cfg + strlen(MARKER);
  while (*line) {
    char *end = strchr(line, '\n');
    if (end) *end = '\0';
    if (strncmp(line, "node=", 5) == 0) snprintf(node, sizeof node, "%s", line + 5);
    else if (strncmp(line, "root=", 5) == 0) snprintf(root, sizeof root, "%s", line + 5);
    if (!end) break;
    line = end + 1;
  }
  return node[0] && root[0] ? 0 : -1;
}

static void entry_path(char *out, size_t n, const char *what) {
  if (strcmp(what, "worker") == 0) snprintf(out, n, "%s/worker/dist/worker.mjs", root);
  else if (!cni_mode) snprintf(out, n, "%s/core/dist/bundle/tsnet.mjs", root);
  else snprintf(out, n, "%s/plugins/dist/%s.mjs", root, name);
}

/* The config's cniVersion by a plain scan of stdin (for errors only), else 1.0.0. */
static void cni_version(const struct buf *in, char *out, size_t n) {
  snprintf(out, n, "1.0.0");
  if (!in || !in->p) return;
  const char *p = memmem(in->p, in->len, "\"cniVersion\"", 12);
  if (!p) return;
  const char *end = in->p + in->len;
  p += 12;
  while (p < end && (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  if (p >= end || *p != '"') return;
  p++;
  size_t i = 0;
  while (p < end && i + 1 < n && ((*p >= '0' && *p <= '9') || *p == '.')) out[i++] = *p++;
  if (p < end && *p == '"' && i > 0) out[i] = '\0';
  else snprintf(out, n, "1.0.0");
}

static void cni_error(const struct buf *in, int code, const char *msg) {
  char v[40];
  cni_version(in, v, sizeof v);
  printf("{\"cniVersion\":\"%s\",\"code\":%d,\"msg\":\"%s\"}\n", v, code, msg);
  fflush(stdout);
}

/* ---------- the direct path ---------- */

static void run_direct(int argc, char **argv, const struct buf *in) {
  char entry[PATH_MAX + 64];
  entry_path(entry, sizeof entry, "call");
  if (in) { /* stdin was read already: hand the same bytes over as fd 0 */
    int fd = memfd_create("tsnet-stdin", 0);
    if (fd >= 0) {
      size_t off = 0;
      while (off < in->len) {
        ssize_t w = write(fd, in->p + off, in->len - off);
        if (w <= 0) break;
        off += (size_t)w;
      }
      lseek(fd, 0, SEEK_SET);
      dup2(fd, 0);
      if (fd != 0) close(fd);
    }
  }
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (!args) exit(1);
  args[0] = node;
  args[1] = entry;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execve(node, args, environ);
  int e = errno;
  if (cni_mode) cni_error(in, 999, "tsnet launcher: cannot run node");
  fprintf(stderr, "tsnet: cannot run %s: %s\n", node, strerror(e));
  exit(127);
}

/* ---------- io helpers ---------- */

static int write_all(int fd, const void *data, size_t n, int sock) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, void *data, size_t n) {
  char *p = data;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int send_frame(int fd, char type, const void *data, size_t n) {
  unsigned char head[5] = {(unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  if (write_all(fd, head, 5, 1) < 0) return -1;
  return n ? write_all(fd, data, n, 1) : 0;
}

/* Reads one frame; payload malloc'd (NUL-terminated). -1 on EOF or error. */
static int recv_frame(int fd, char *type, char **payload, uint32_t *len) {
  unsigned char head[5];
  if (read_all(fd, head, 5) < 0) return -1;
  uint32_t n = (uint32_t)head[1] << 24 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 8 | head[4];
  if (n > MAX_FRAME) return -1;
  char *p = malloc(n + 1);
  if (!p || (n && read_all(fd, p, n) < 0)) {
    free(p);
    return -1;
  }
  p[n] = '\0';
  *type = (char)head[0];
  *payload = p;
  *len = n;
  return 0;
}

static int wait_readable(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r;
  do r = poll(&p, 1, ms);
  while (r < 0 && errno == EINTR);
  return r;
}

static void sleep_ms(long ms) {
  struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) < 0 && errno == EINTR) {
  }
}

/* ---------- where the worker is ---------- */

static char workers[PATH_MAX - 64], key[17]; /* room for "/KEY.suffix" in PATH_MAX */

static const char *env_or(const char *k, const char *dflt) {
  const char *v = getenv(k);
  return v && *v ? v : dflt;
}

/* RUN/workers, 0700 and root's, or -1: the direct path then. */
static int workers_dir(void) {
  const char *run = env_or("TSNET_RUN_DIR", "/run/tsnet");
  if (snprintf(workers, sizeof workers, "%s/workers", run) >= (int)sizeof workers) return -1;
  if (mkdir(run, 0755) < 0 && errno != EEXIST) return -1;
  if (mkdir(workers, 0700) < 0 && errno != EEXIST) return -1;
  struct stat st;
  if (lstat(workers, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 0777) != 0700) return -1;
  return 0;
}

/* FNV-1a 64 over STATE \0 FWNAME \0 DEV:INO of this process's network namespace. */
static int compute_key(void) {
  struct stat ns;
  if (stat("/proc/self/ns/net", &ns) < 0) return -1;
  char nsid[64];
  snprintf(nsid, sizeof nsid, "%lu:%lu", (unsigned long)ns.st_dev, (unsigned long)ns.st_ino);
  const char *parts[3] = {env_or("TSNET_STATE_DIR", "/var/lib/tsnet"), env_or("TSNET_FIREWALL_NAME", "tsnet"), nsid};
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int i = 0; i < 3; i++) {
    for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
    if (i < 2) h = (h ^ 0) * 0x100000001b3ULL;
  }
  snprintf(key, sizeof key, "%016llx", (unsigned long long)h);
  return 0;
}

static void worker_file(char *out, size_t n, const char *suffix) { snprintf(out, n, "%s/%s%s", workers, key, suffix); }

static int try_connect(void) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  char p[PATH_MAX];
  worker_file(p, sizeof p, ".sock");
  if (strlen(p) >= sizeof a.sun_path) return -1;
  strcpy(a.sun_path, p);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
  close(fd);
  return -1;
}

/* The grandchild: a detached worker with exactly the documented fds and environment. */
static void exec_worker(int ready_w) {
  setsid();
  int w = fcntl(ready_w, F_DUPFD, 10); /* out of the way of 0-3 */
  int devnull = open("/dev/null", O_RDONLY);
  char log[PATH_MAX];
  worker_file(log, sizeof log, ".log");
  int lf = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (w < 0 || devnull < 0 || lf < 0) _exit(127);
  dup2(devnull, 0);
  dup2(lf, 1);
  dup2(lf, 2);
  dup2(w, 3);
  close_range(4, ~0U, 0);
  static char envs[8][PATH_MAX + 32];
  char *envp[9];
  int n = 0;
  snprintf(envs[n], sizeof envs[n], "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), envp[n] = envs[n], n++;
  snprintf(envs[n], sizeof envs[n], "UV_THREADPOOL_SIZE=64"), envp[n] = envs[n], n++;
  snprintf(envs[n], sizeof envs[n], "TSNET_WORKER_KEY=%s", key), envp[n] = envs[n], n++;
  snprintf(envs[n], sizeof envs[n], "TSNET_WORKER_DIR=%s", workers), envp[n] = envs[n], n++;
  snprintf(envs[n], sizeof envs[n], "TSNET_WORKER_READY_FD=3"), envp[n] = envs[n], n++;
  const char *pass[] = {"TSNET_STATE_DIR", "TSNET_FIREWALL_NAME", "TSNET_RUN_DIR", "TSNET_WORKER_IDLE_MS"};
  for (size_t i = 0; i < sizeof pass / sizeof *pass && n < 8; i++) {
    const char *v = getenv(pass[i]);
    if (v) snprintf(envs[n], sizeof envs[n], "%s=%s", pass[i], v), envp[n] = envs[n], n++;
  }
  envp[n] = NULL;
  char entry[PATH_MAX + 64];
  entry_path(entry, sizeof entry, "worker");
  char *args[] = {node, "--max-semi-space-size=16", entry, NULL};
  execve(node, args, envp);
  _exit(127);
}

/* Starts a worker (one at a time per key) and connects to it; -1 when none can be had. */
static int start_worker(void) {
  char lockp[PATH_MAX];
  worker_file(lockp, sizeof lockp, ".lock.start");
  int lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) return -1;
  while (flock(lock, LOCK_EX) < 0 && errno == EINTR) {
  }
  int fd = try_connect(); /* another launcher may have started it meanwhile */
  if (fd >= 0) {
    close(lock);
    return fd;
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    close(lock);
    return -1;
  }
  pid_t child = fork();
  if (child == 0) {
    if (fork() == 0) exec_worker(p[1]);
    _exit(0);
  }
  close(p[1]);
  if (child > 0) waitpid(child, NULL, 0);
  char word[16] = {0};
  size_t got = 0;
  while (got < sizeof word - 1 && wait_readable(p[0], READY_TIMEOUT_MS) > 0) {
    ssize_t r = read(p[0], word + got, sizeof word - 1 - got);
    if (r <= 0) break;
    got += (size_t)r;
    if (memchr(word, '\n', got)) break;
  }
  close(p[0]);
  fd = -1;
  if (strcmp(word, "ok\n") == 0 || strcmp(word, "busy\n") == 0) {
    for (int i = 0; i < 40 && (fd = try_connect()) < 0; i++) sleep_ms(25);
  }
  close(lock);
  return fd;
}

/* ---------- the call ---------- */

static int forwarded(const char *k) {
  return strncmp(k, "CNI_", 4) == 0 || strncmp(k, "TSNET_", 6) == 0 || strncmp(k, "PATH=", 5) == 0 || strncmp(k, "HOME=", 5) == 0;
}

static void build_request(struct buf *q, int argc, char **argv) {
  char num[32], cwd[PATH_MAX];
  buf_str(q, "tsnet-call/1");
  buf_str(q, cni_mode ? "cni" : "cli");
  buf_str(q, name);
  buf_str(q, getcwd(cwd, sizeof cwd) ? cwd : "/");
  char tty[4] = {isatty(0) ? '1' : '0', isatty(1) ? '1' : '0', isatty(2) ? '1' : '0', '\0'};
  buf_str(q, tty);
  snprintf(num, sizeof num, "%d", argc - 1);
  buf_str(q, num);
  for (int i = 1; i < argc; i++) buf_str(q, argv[i]);
  int envc = 0;
  for (char **e = environ; *e; e++) envc += forwarded(*e) && strchr(*e, '=') != NULL;
  snprintf(num, sizeof num, "%d", envc);
  buf_str(q, num);
  for (char **e = environ; *e; e++)
    if (forwarded(*e) && strchr(*e, '=')) buf_str(q, *e);
}

static int send_request(int fd, const struct buf *q, const struct buf *in) {
  if (send_frame(fd, 'Q', q->p, q->len) < 0) return -1;
  for (size_t off = 0; in && off < in->len; off += MAX_FRAME) {
    size_t n = in->len - off < MAX_FRAME ? in->len - off : MAX_FRAME;
    if (send_frame(fd, 'I', in->p + off, n) < 0) return -1;
  }
  return send_frame(fd, 'Z', NULL, 0);
}

static void lost(const struct buf *in, const char *why) {
  if (cni_mode) {
    char msg[256];
    snprintf(msg, sizeof msg, "tsnet worker %s; its outcome is unknown, not retried (try again)", why);
    cni_error(in, 11, msg);
  } else {
    fprintf(stderr, "tsnet: WORKER_LOST: the tsnet worker %s; its outcome is unknown (not retried)\n", why);
  }
  exit(1);
}

/* Relays O/E frames until X; never returns. */
static void relay(int fd, const struct buf *in) {
  for (;;) {
    char type;
    char *p;
    uint32_t n;
    if (recv_frame(fd, &type, &p, &n) < 0) lost(in, "ended during the call");
    if (type == 'O') write_all(1, p, n, 0);
    else if (type == 'E') write_all(2, p, n, 0);
    else if (type == 'X' && n == 4) {
      unsigned char *u = (unsigned char *)p;
      exit((int)((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3]) & 0xff);
    } else lost(in, "sent an unexpected frame");
    free(p);
  }
}

static void read_stdin(struct buf *in) {
  char chunk[65536];
  for (;;) {
    ssize_t r = read(0, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    buf_add(in, chunk, (size_t)r);
  }
  buf_add(in, "", 1); /* keeps p non-NULL; not sent */
  in->len--;
}

int main(int argc, char **argv) {
  const char *slash = strrchr(argv[0], '/');
  name = slash ? slash + 1 : argv[0];
  /* `tsnet` is also the name of a CNI plugin: a runtime calls it with CNI_COMMAND set. */
  cni_mode = strcmp(name, "tsnet") != 0 || getenv("CNI_COMMAND") != NULL;
  if (read_config() < 0) {
    fprintf(stderr, "%s: this tsnet launcher is not configured (install it with `tsnet cni install` or npm run build)\n", name);
    return 127;
  }
  char entry[PATH_MAX + 64];
  entry_path(entry, sizeof entry, "call");
  if (cni_mode && access(entry, R_OK) < 0) {
    struct buf none = {0};
    char msg[PATH_MAX + 96];
    snprintf(msg, sizeof msg, "tsnet has no plugin named %s (no %s)", name, entry);
    cni_error(&none, 7, msg);
    return 1;
  }
  struct buf in = {0}, *inp = NULL;
  if (cni_mode) {
    read_stdin(&in);
    inp = &in;
  }
  const char *w = getenv("TSNET_WORKER");
  if ((w && strcmp(w, "0") == 0) || getuid() != 0 || workers_dir() < 0 || compute_key() < 0) run_direct(argc, argv, inp);
  int fd = try_connect();
  if (fd < 0) fd = start_worker();
  if (fd < 0) run_direct(argc, argv, inp);
  struct buf q = {0};
  build_request(&q, argc, argv);
  if (send_request(fd, &q, inp) < 0) run_direct(argc, argv, inp); /* nothing ran */
  int ready = wait_readable(fd, ACK_TIMEOUT_MS);
  if (ready == 0) lost(inp, "did not accept the call in time");
  char type;
  char *p;
  uint32_t n;
  if (ready < 0 || recv_frame(fd, &type, &p, &n) < 0) run_direct(argc, argv, inp); /* nothing ran */
  if (type == 'D') {
    close(fd);
    run_direct(argc, argv, inp);
  }
  if (type == 'R') {
    fprintf(stderr, "tsnet: %s\n", p);
    return 1;
  }
  if (type != 'A') lost(inp, "answered with an unexpected frame");
  relay(fd, inp);
}
