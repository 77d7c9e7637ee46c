/*
 * tsnet launcher: installed as `tsnet` and under every CNI plugin name. It forwards one call
 * (argv, selected env, cwd, stdin) to a warm tsnet worker over a root-only unix socket and relays
 * the answer, starting the worker on demand; when no worker can be had it execs the Node entry
 * itself. native/PROTOCOL.md is the contract; every rule below comes from it.
 *
 * Why C: a CNI runtime execs a plugin per call, and Node's own startup (tens of milliseconds) is
 * most of the cost of a call. This binary is static (libc only): a warm call through it takes
 * about a millisecond, and it depends on nothing a runtime's minimal environment could lack.
 *
 * Output goes through write(2) (dprintf), never stdio buffers, so nothing is written twice or
 * lost across fork() and execve().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
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
#define MARKER_LEN (sizeof MARKER - 1)
#define CONFIG_SIZE 4096
#define MAX_FRAME (16u << 20)
#define ANSWER_MS 10000   /* the worker's A/D/R must come within this */
#define READY_MS 10000    /* a starting worker must say ok/busy within this */
#define CONNECT_TRIES 40  /* after ok/busy: connect attempts ... */
#define CONNECT_GAP_MS 25 /* ... this far apart */
#define START_LOCK_S 12   /* longest wait for another launcher's start (READY_MS + tries, rounded up) */
#define WORKER_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/*
 * The configuration block. The installer finds the marker in the file and writes `key=value`
 * lines and a NUL right after it. The marker text exists nowhere else in the binary (MARKER_LEN is
 * a compile-time constant, no string literal is emitted), so the installer finds it exactly once.
 * `volatile`: the compiler must read the bytes at run time, never fold the initial (empty) value.
 */
volatile char tsnet_launcher_config[CONFIG_SIZE] = MARKER;

extern char **environ;

/* The call, as main() establishes it. */
static char node[PATH_MAX], root[PATH_MAX];
static const char *name; /* basename(argv[0]) */
static int cni;          /* 1: a CNI plugin call (stdin is the config), 0: the CLI */
static char workers[PATH_MAX], key[17];
static int argn;
static char **args;

/* ---------- small utilities ---------- */

struct buf {
  char *p;
  size_t len, cap;
};

static struct buf in; /* stdin, read to EOF (cni mode only) */
static int have_in;

static void buf_add(struct buf *b, const void *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      dprintf(2, "tsnet: out of memory\n");
      _exit(1);
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = '\0'; /* always a C string too */
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s) + 1); }

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) < 0 && errno == EINTR) {
  }
}

/* Writes all of data; sockets use send(MSG_NOSIGNAL) so a vanished worker is an error, not SIGPIPE. */
static int write_all(int fd, const void *data, size_t n, int is_sock) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = is_sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Waits until fd is readable or the deadline (ms, CLOCK_MONOTONIC; -1: none) passes: 1, 0 timeout, -1. */
static int wait_readable(int fd, long long deadline) {
  for (;;) {
    int ms = -1;
    if (deadline >= 0) {
      long long left = deadline - now_ms();
      ms = left > 0 ? (int)left : 0;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, ms);
    if (r >= 0 || errno != EINTR) return r > 0 ? 1 : r;
  }
}

enum { RD_OK = 1, RD_EOF = 0, RD_ERR = -1, RD_TIMEOUT = -2, RD_BAD = -3 /* over-long frame */ };

/* Reads exactly n bytes: RD_OK, RD_EOF (nothing or part of it came), RD_ERR or RD_TIMEOUT. */
static int read_full(int fd, void *data, size_t n, long long deadline) {
  char *p = data;
  while (n > 0) {
    int w = wait_readable(fd, deadline);
    if (w == 0) return RD_TIMEOUT;
    if (w < 0) return RD_ERR;
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return RD_ERR;
    if (r == 0) return RD_EOF;
    p += r;
    n -= (size_t)r;
  }
  return RD_OK;
}

static const char *env_or(const char *k, const char *dflt) {
  const char *v = getenv(k);
  return v && *v ? v : dflt;
}

/*
 * A launcher started with fd 0, 1 or 2 closed would open its socket there and then write the
 * answer into its own socket: give those fds /dev/null first.
 */
static void ensure_std_fds(void) {
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) continue;
    int n = open("/dev/null", O_RDWR);
    if (n >= 0 && n != fd) {
      dup2(n, fd);
      close(n);
    }
  }
}

/* ---------- configuration, entries, CNI errors ---------- */

/* Reads node= and root= from the block; 0 when either is missing (unconfigured). */
static int load_config(void) {
  char cfg[CONFIG_SIZE + 1];
  for (size_t i = 0; i < CONFIG_SIZE; i++) cfg[i] = tsnet_launcher_config[i];
  cfg[CONFIG_SIZE] = '\0';
  for (char *line = cfg + MARKER_LEN; *line;) {
    char *end = strchr(line, '\n');
    if (end) *end = '\0';
    if (strncmp(line, "node=", 5) == 0) snprintf(node, sizeof node, "%s", line + 5);
    else if (strncmp(line, "root=", 5) == 0) snprintf(root, sizeof root, "%s", line + 5);
    if (!end) break;
    line = end + 1;
  }
  return node[0] && root[0];
}

static int valid_name(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-')) return 0;
  return 1;
}

/* The Node entry of this call: the CLI bundle or plugins/dist/NAME.mjs. */
static void call_entry(char *out, size_t n) {
  if (cni) snprintf(out, n, "%s/plugins/dist/%s.mjs", root, name);
  else snprintf(out, n, "%s/core/dist/bundle/tsnet.mjs", root);
}

static void read_stdin(void) {
  char chunk[65536];
  have_in = 1;
  buf_add(&in, "", 0); /* in.p is never NULL once read */
  for (;;) {
    ssize_t r = read(0, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    buf_add(&in, chunk, (size_t)r);
  }
}

/* The config's cniVersion by a plain scan of stdin ("cniVersion" : "V"), else 1.0.0: for errors only. */
static void cni_version(char *out, size_t n) {
  snprintf(out, n, "1.0.0");
  const char *p = have_in ? memmem(in.p, in.len, "\"cniVersion\"", 12) : NULL;
  if (!p) return;
  const char *end = in.p + in.len;
  for (p += 12; p < end && *p && strchr(" \t\r\n:", *p); p++) {
  }
  if (p >= end || *p++ != '"') return;
  size_t i = 0;
  while (p < end && i + 1 < n && *p && (strchr("0123456789.-+", *p) || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) out[i++] = *p++;
  if (i > 0 && p < end && *p == '"') out[i] = '\0';
  else snprintf(out, n, "1.0.0");
}

/* s as the inside of a JSON string (paths may hold quotes or backslashes). */
static void json_text(struct buf *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c;
      buf_add(b, esc, 2);
    } else if (c < 0x20) {
      buf_add(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", c));
    } else {
      buf_add(b, s, 1);
    }
  }
}

/* A CNI error result on stdout: what a runtime parses when the plugin exits non-zero. */
static void cni_error(int code, const char *msg) {
  char v[33];
  cni_version(v, sizeof v);
  struct buf b = {0};
  char head[96];
  buf_add(&b, head, (size_t)snprintf(head, sizeof head, "{\"cniVersion\":\"%s\",\"code\":%d,\"msg\":\"", v, code));
  json_text(&b, msg);
  buf_add(&b, "\"}\n", 3);
  write_all(1, b.p, b.len, 0);
  free(b.p);
}

/* A plugin whose entry does not exist (or a name that cannot be one): CNI code 7. */
static void no_such_plugin(void) {
  char entry[PATH_MAX + 64], msg[2 * PATH_MAX + 160];
  call_entry(entry, sizeof entry);
  if (valid_name(name)) snprintf(msg, sizeof msg, "tsnet has no plugin named %s (no %s)", name, entry);
  else snprintf(msg, sizeof msg, "tsnet has no plugin named %s (not a plugin name)", name);
  read_stdin(); /* for the config's cniVersion */
  cni_error(7, msg);
  exit(1);
}

/* ---------- the direct path ---------- */

/* Stdin was consumed already: give the Node entry the same bytes as a fresh fd 0. */
static int replay_stdin(void) {
  int fd = memfd_create("tsnet-stdin", MFD_CLOEXEC);
  if (fd < 0) fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600); /* kernels without memfd */
  if (fd < 0 || write_all(fd, in.p, in.len, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) return -1;
  if (dup2(fd, 0) < 0) return -1; /* dup2 clears CLOEXEC on fd 0 */
  if (fd != 0) close(fd);
  return 0;
}

/* execve(node, [node, ENTRY, argv[1]...], environ): the Node entry runs the call itself. */
static _Noreturn void run_direct(void) {
  char entry[PATH_MAX + 64];
  call_entry(entry, sizeof entry);
  const char *why = "cannot replay stdin";
  if (!have_in || replay_stdin() == 0) {
    char **av = calloc((size_t)argn + 2, sizeof *av);
    if (!av) _exit(1);
    av[0] = node;
    av[1] = entry;
    for (int i = 1; i < argn; i++) av[i + 1] = args[i];
    /* A plugin makes no TLS connection, and NODE_EXTRA_CA_CERTS makes Node read and parse that
       file at every start (measured here: node -e 0 60 ms with it, 20 ms without). */
    if (cni) unsetenv("NODE_EXTRA_CA_CERTS");
    execve(node, av, environ);
    why = strerror(errno);
  }
  char msg[PATH_MAX + 128];
  snprintf(msg, sizeof msg, "tsnet launcher: cannot run %s: %s", node, why);
  if (cni) cni_error(999, msg);
  dprintf(2, "%s\n", msg);
  exit(127);
}

/* ---------- where the worker is ---------- */

/* mkdir that also sets the mode exactly (a umask must not make the dir fail the check below). */
static int make_dir(const char *p, mode_t mode) {
  if (mkdir(p, mode) == 0) return chmod(p, mode);
  return errno == EEXIST ? 0 : -1;
}

/*
 * RUN and its missing parents 0755, RUN/workers 0700; usable only if root's and exactly 0700 (a
 * socket there is one only root could have made). RUN must be absolute (a relative one would name
 * another dir from every cwd) and short enough for WORKERS/KEY.sock to fit sun_path (108 bytes).
 */
static int prepare_workers_dir(void) {
  const char *run = env_or("TSNET_RUN_DIR", "/run/tsnet");
  size_t room = sizeof ((struct sockaddr_un *)0)->sun_path - sizeof "/workers/0123456789abcdef.sock";
  if (run[0] != '/' || strlen(run) > room) return -1;
  snprintf(workers, sizeof workers, "%s/workers", run);
  for (char *s = workers + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    int r = make_dir(workers, 0755);
    *s = '/';
    if (r < 0) return -1;
  }
  struct stat st;
  if (make_dir(workers, 0700) < 0 || lstat(workers, &st) < 0) return -1;
  return S_ISDIR(st.st_mode) && st.st_uid == 0 && (st.st_mode & 07777) == 0700 ? 0 : -1;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/*
 * KEY: FNV-1a 64 over STATE \0 FWNAME \0 DEV:INO, the last naming this process's network
 * namespace: a worker runs in the namespace it was started from, so each namespace gets its own.
 */
static int derive_key(void) {
  struct stat ns;
  if (stat("/proc/self/ns/net", &ns) < 0) return -1;
  char netns[48];
  snprintf(netns, sizeof netns, "%llu:%llu", (unsigned long long)ns.st_dev, (unsigned long long)ns.st_ino);
  const char *state = env_or("TSNET_STATE_DIR", "/var/lib/tsnet"), *fw = env_or("TSNET_FIREWALL_NAME", "tsnet");
  /* The installation and its build: another checkout, or this one rebuilt, gets its own worker
     (a worker of another build would answer with its own code, --version included). */
  char entry[PATH_MAX + 32], built[48] = "0.0";
  struct stat w;
  snprintf(entry, sizeof entry, "%s/worker/dist/worker.mjs", root);
  if (stat(entry, &w) == 0) snprintf(built, sizeof built, "%lld.%09ld", (long long)w.st_mtim.tv_sec, (long)w.st_mtim.tv_nsec);
  uint64_t h = 0xcbf29ce484222325ULL;
  h = fnv1a(h, state, strlen(state) + 1); /* with its NUL: the separator */
  h = fnv1a(h, fw, strlen(fw) + 1);
  h = fnv1a(h, netns, strlen(netns) + 1);
  h = fnv1a(h, root, strlen(root) + 1);
  h = fnv1a(h, built, strlen(built));
  snprintf(key, sizeof key, "%016llx", (unsigned long long)h);
  return 0;
}

/* WORKERS/KEY.suffix; -1 if it does not fit (never, after prepare_workers_dir's checks). */
static int worker_file(char *out, size_t n, const char *suffix) {
  int r = snprintf(out, n, "%s/%s%s", workers, key, suffix);
  return r >= 0 && (size_t)r < n ? 0 : -1;
}

/* Connects to KEY.sock; on failure returns -1 with errno set. */
static int connect_worker(void) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (worker_file(a.sun_path, sizeof a.sun_path, ".sock") < 0) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
  int e = errno;
  close(fd);
  errno = e;
  return -1;
}

static int connect_retrying(void) {
  for (int i = 0; i < CONNECT_TRIES; i++) {
    if (i > 0) sleep_ms(CONNECT_GAP_MS);
    int fd = connect_worker();
    if (fd >= 0) return fd;
  }
  return -1;
}

static void on_alarm(int sig) { (void)sig; }

/*
 * flock(KEY.lock.start): one launcher at a time starts a worker. *contended tells whether another
 * launcher held it (was starting one). The wait is bounded (a stopped holder must not hang every
 * call): SIGALRM, unblocked and handled without SA_RESTART, interrupts flock().
 */
static int take_start_lock(int *contended) {
  char p[PATH_MAX];
  int fd = worker_file(p, sizeof p, ".lock.start") < 0 ? -1 : open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  *contended = flock(fd, LOCK_EX | LOCK_NB) < 0;
  if (!*contended) return fd;
  struct sigaction sa = {.sa_handler = on_alarm}, old;
  sigset_t alrm, mask;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  sigaction(SIGALRM, &sa, &old);
  sigprocmask(SIG_UNBLOCK, &alrm, &mask);
  alarm(START_LOCK_S);
  int r = flock(fd, LOCK_EX);
  alarm(0); /* a pending alarm would survive execve into the direct path */
  sigprocmask(SIG_SETMASK, &mask, NULL);
  sigaction(SIGALRM, &old, NULL);
  if (r == 0) return fd;
  close(fd);
  return -1;
}

static char *kv(const char *k, const char *v) {
  size_t n = strlen(k) + strlen(v) + 2;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s=%s", k, v);
  return s;
}

/* Closes every fd from `from` up (close_range, or one by one on kernels before 5.9). */
static void close_from(int from) {
  if (close_range((unsigned)from, ~0U, 0) == 0) return;
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = from; fd < (max > 0 && max < 65536 ? max : 65536); fd++) close((int)fd);
}

/*
 * The grandchild: a detached worker (own session, no fd of the caller: a caller reading our stdout
 * to EOF must not wait for the worker) with exactly the documented fds and environment.
 */
static _Noreturn void exec_worker(int ready_w) {
  setsid(); /* (signal dispositions and mask: Node resets them itself at startup) */
  if (chdir("/") < 0) _exit(127); /* do not pin the caller's cwd (a mount, a container rootfs) */
  char log[PATH_MAX];
  if (worker_file(log, sizeof log, ".log") < 0) _exit(127);
  int fds[3] = {open("/dev/null", O_RDONLY | O_CLOEXEC), open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600), ready_w};
  /* Lift all three above 3 first so no dup2 below overwrites a source that sits in 0..3. */
  for (int i = 0; i < 3; i++)
    if (fds[i] < 0 || (fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10)) < 0) _exit(127);
  if (dup2(fds[0], 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0 || dup2(fds[2], 3) < 0) _exit(127);
  close_from(4);

  char *envp[10];
  int n = 0;
  envp[n++] = WORKER_PATH;
  envp[n++] = "UV_THREADPOOL_SIZE=64";
  envp[n++] = kv("TSNET_WORKER_KEY", key);
  envp[n++] = kv("TSNET_WORKER_DIR", workers);
  envp[n++] = "TSNET_WORKER_READY_FD=3";
  static const char *const pass[] = {"TSNET_STATE_DIR", "TSNET_FIREWALL_NAME", "TSNET_RUN_DIR", "TSNET_WORKER_IDLE_MS"};
  for (size_t i = 0; i < sizeof pass / sizeof *pass; i++) {
    const char *v = getenv(pass[i]);
    if (v) envp[n++] = kv(pass[i], v);
  }
  envp[n] = NULL;
  for (int i = 0; i < n; i++)
    if (!envp[i]) _exit(127);
  char entry[PATH_MAX + 32];
  snprintf(entry, sizeof entry, "%s/worker/dist/worker.mjs", root);
  char *av[] = {node, "--max-semi-space-size=16", entry, NULL};
  execve(node, av, envp);
  _exit(127);
}

/* The readiness pipe: 1 on `ok\n` or `busy\n` (a worker is or will be listening), else 0. */
static int await_ready(int fd) {
  char word[16];
  size_t got = 0;
  long long deadline = now_ms() + READY_MS;
  while (got < sizeof word - 1 && !memchr(word, '\n', got)) {
    if (wait_readable(fd, deadline) <= 0) break;
    ssize_t r = read(fd, word + got, sizeof word - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break; /* EOF: the worker exited (or closed fd 3) without a word */
    got += (size_t)r;
  }
  word[got] = '\0';
  return strcmp(word, "ok\n") == 0 || strcmp(word, "busy\n") == 0;
}

/*
 * pipe, fork; the child forks again and exits at once, so the worker is reparented (never our
 * child, never a zombie of the caller) and we only reap the short-lived middle child.
 */
static int spawn_worker(void) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return -1;
  pid_t child = fork();
  if (child == 0) {
    if (fork() == 0) exec_worker(p[1]);
    _exit(0);
  }
  close(p[1]); /* ours must go, or a worker that dies silently would never give us EOF */
  if (child < 0) {
    close(p[0]);
    return -1;
  }
  while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
  }
  int ok = await_ready(p[0]);
  close(p[0]);
  return ok ? connect_retrying() : -1;
}

/*
 * Under the start lock: connect again (another launcher may have just started the worker), else
 * start one. If another launcher held the lock and still no worker listens, its start failed:
 * starting again would only make every waiting caller pay for one failed start after another, so
 * take the direct path (the next call tries again).
 */
static int start_worker(void) {
  int contended;
  int lock = take_start_lock(&contended);
  if (lock < 0) return -1;
  int fd = connect_worker();
  if (fd < 0 && !contended) fd = spawn_worker();
  close(lock);
  return fd;
}

/* A connected worker socket, or -1: the direct path. */
static int reach_worker(void) {
  int fd = connect_worker();
  if (fd >= 0) return fd;
  if (errno != ENOENT && errno != ECONNREFUSED) return -1;
  return start_worker();
}

/* ---------- the call ---------- */

static int forwarded(const char *e) {
  return strchr(e, '=') && (strncmp(e, "CNI_", 4) == 0 || strncmp(e, "TSNET_", 6) == 0 || strncmp(e, "PATH=", 5) == 0 || strncmp(e, "HOME=", 5) == 0);
}

/* The Q payload; -1 when the call cannot be described (no cwd): the direct path then. */
static int build_request(struct buf *q) {
  char *cwd = getcwd(NULL, 0);
  if (!cwd) return -1;
  char num[24], tty[4] = {isatty(0) ? '1' : '0', isatty(1) ? '1' : '0', isatty(2) ? '1' : '0', '\0'};
  buf_str(q, "tsnet-call/1");
  buf_str(q, cni ? "cni" : "cli");
  buf_str(q, name);
  buf_str(q, cwd);
  buf_str(q, tty);
  snprintf(num, sizeof num, "%d", argn > 0 ? argn - 1 : 0);
  buf_str(q, num);
  for (int i = 1; i < argn; i++) buf_str(q, args[i]);
  int envc = 0;
  for (char **e = environ; *e; e++) envc += forwarded(*e);
  snprintf(num, sizeof num, "%d", envc);
  buf_str(q, num);
  for (char **e = environ; *e; e++)
    if (forwarded(*e)) buf_str(q, *e);
  free(cwd);
  return q->len <= MAX_FRAME ? 0 : -1;
}

static int send_frame(int fd, char type, const void *data, size_t n) {
  unsigned char head[5] = {(unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  if (write_all(fd, head, 5, 1) < 0) return -1;
  return n ? write_all(fd, data, n, 1) : 0;
}

/* Q, then stdin as I frames (cni mode), then Z. */
static int send_call(int fd) {
  struct buf q = {0};
  int r = build_request(&q) == 0 ? send_frame(fd, 'Q', q.p, q.len) : -1;
  free(q.p);
  for (size_t off = 0; r == 0 && have_in && off < in.len; off += 1 << 20) {
    size_t n = in.len - off < 1u << 20 ? in.len - off : 1u << 20;
    r = send_frame(fd, 'I', in.p + off, n);
  }
  return r == 0 ? send_frame(fd, 'Z', NULL, 0) : -1;
}

/* A frame's type and length; RD_OK, RD_EOF, RD_ERR, RD_TIMEOUT, or RD_BAD (over 16 MiB). */
static int read_head(int fd, char *type, uint32_t *len, long long deadline) {
  unsigned char h[5];
  int r = read_full(fd, h, 5, deadline);
  if (r != RD_OK) return r;
  *type = (char)h[0];
  *len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
  return *len <= MAX_FRAME ? RD_OK : RD_BAD;
}

/* Copies len payload bytes from the socket to out (-1: discard). RD_OK or why not. */
static int pass_payload(int fd, uint32_t len, int out) {
  char chunk[65536];
  while (len > 0) {
    size_t n = len < sizeof chunk ? len : sizeof chunk;
    int r = read_full(fd, chunk, n, -1);
    if (r != RD_OK) return r;
    if (out >= 0) write_all(out, chunk, n, 0); /* a closed stdout must not stop the relay */
    len -= (uint32_t)n;
  }
  return RD_OK;
}

/*
 * The call may have run, in part or whole, and we cannot know: never run it again. The runtime
 * gets CNI "try again later" (11); a user gets WORKER_LOST.
 */
static _Noreturn void call_lost(const char *what) {
  char msg[256];
  if (cni) {
    snprintf(msg, sizeof msg, "tsnet worker %s; its outcome is unknown, not retried (try again)", what);
    cni_error(11, msg);
  } else {
    dprintf(2, "tsnet: WORKER_LOST: the tsnet worker %s; its outcome is unknown (not retried)\n", strcmp(what, "ended during the call") == 0 ? "ended during the command" : what);
  }
  exit(1);
}

/* After A: O and E frames to fds 1 and 2 as they come, until X. */
static _Noreturn void relay(int fd) {
  for (;;) {
    char type;
    uint32_t len;
    unsigned char code[4];
    int r = read_head(fd, &type, &len, -1);
    if (r != RD_OK) call_lost(r == RD_BAD ? "sent an unexpected frame" : "ended during the call");
    if (type == 'O' || type == 'E') {
      if (pass_payload(fd, len, type == 'O' ? 1 : 2) != RD_OK) call_lost("ended during the call");
    } else if (type == 'X' && len == 4) {
      if (read_full(fd, code, 4, -1) != RD_OK) call_lost("ended during the call");
      exit((int)(((uint32_t)code[0] << 24 | (uint32_t)code[1] << 16 | (uint32_t)code[2] << 8 | code[3]) & 0xff));
    } else {
      call_lost("sent an unexpected frame");
    }
  }
}

/* R: the worker will not serve this caller; its message on stderr, exit 1. */
static _Noreturn void refused(int fd, uint32_t len) {
  dprintf(2, "tsnet: ");
  pass_payload(fd, len, 2);
  dprintf(2, "\n");
  exit(1);
}

/* Sends the call and acts on the worker's first answer. */
static _Noreturn void call_worker(int fd) {
  /* A worker that never reads must not hang a large request forever; a timed-out send is a
   * request the worker does not have in full (no Z): nothing ran. */
  struct timeval tv = {.tv_sec = ANSWER_MS / 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (send_call(fd) < 0) {
    close(fd);
    run_direct(); /* the worker runs nothing before the whole request (Z) is in */
  }
  char type;
  uint32_t len;
  int r = read_head(fd, &type, &len, now_ms() + ANSWER_MS);
  if (r == RD_TIMEOUT) call_lost("did not answer within 10 s"); /* it may yet run the call */
  if (r == RD_BAD) call_lost("sent an unexpected frame");
  if (r != RD_OK) {
    close(fd);
    run_direct(); /* ended before A or D: nothing ran */
  }
  if (type == 'A' && len == 0) relay(fd);
  if (type == 'D' && len == 0) {
    close(fd);
    run_direct();
  }
  if (type == 'R') refused(fd, len);
  call_lost("sent an unexpected frame");
}

/* The worker path is allowed and its dir usable (and KEY known); otherwise the direct path. */
static int worker_usable(void) {
  const char *w = getenv("TSNET_WORKER");
  if (w && strcmp(w, "0") == 0) return 0;
  if (getuid() != 0) return 0; /* the worker serves root only */
  return prepare_workers_dir() == 0 && derive_key() == 0;
}

int main(int argc, char **argv) {
  ensure_std_fds();
  argn = argc;
  args = argv;
  const char *a0 = argc > 0 ? argv[0] : "";
  const char *slash = strrchr(a0, '/');
  name = slash ? slash + 1 : a0;
  /* `tsnet` is also the tsnet CNI plugin's name: a runtime calls it with CNI_COMMAND set. */
  cni = strcmp(name, "tsnet") != 0 || getenv("CNI_COMMAND") != NULL;
  if (!load_config()) {
    dprintf(2, "%s: this tsnet launcher is not configured (npm run build, or tsnet cni install, writes one)\n", name);
    return 127;
  }
  if (cni) {
    char entry[PATH_MAX + 64];
    call_entry(entry, sizeof entry);
    if (!valid_name(name) || access(entry, R_OK) < 0) no_such_plugin();
  }
  /* A plugin run without CNI_COMMAND is no CNI call: `dhcp daemon` (a long-lived process of its
     own, never a worker call) or a usage error the entry prints. Stdin stays untouched. */
  if (cni && !getenv("CNI_COMMAND")) run_direct();
  if (!worker_usable()) run_direct(); /* stdin untouched: the entry reads it itself */
  if (cni) read_stdin();
  int fd = reach_worker();
  if (fd < 0) run_direct();
  call_worker(fd);
}
