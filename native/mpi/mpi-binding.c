/*
 * rmsprop-pool's binding to MPI: it moves bytes and nothing else (every floating-point sum stays
 * in the library's kernels, in a fixed order). All MPI calls run on one dedicated thread, started
 * by open() (MPI_THREAD_FUNNELED); JavaScript queues a job and gets a promise, which the MPI
 * thread settles through a thread-safe function, so the event loop never blocks. Buffers are the
 * caller's typed arrays (shared memory included), held by references until their job settles.
 * allgatherv and alltoallv count in units of a given number of bytes (an MPI contiguous type), so
 * a part past 2^31 bytes needs no rounds when its sizes are multiples of a unit; every count and
 * displacement is checked against its view before MPI sees it, so a wrong one is refused, never
 * a write past a buffer. MPI_ERRORS_RETURN turns a failure into a rejection carrying MPI's text.
 */
#include <mpi.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum Op { OP_OPEN, OP_BARRIER, OP_BCAST, OP_ALLGATHERV, OP_ALLTOALLV, OP_ALLREDUCE_INT, OP_CLOSE };
enum { MAX_VIEWS = 2 };

typedef struct Job {
  enum Op op;
  napi_deferred deferred;
  napi_ref refs[MAX_VIEWS];
  void *data[MAX_VIEWS];
  int *counts; /* allgatherv: recv counts, displs; alltoallv: send counts, displs, recv counts, displs */
  int count;   /* bcast: bytes; allgatherv: send units; allreduce: elements */
  int unit;    /* allgatherv, alltoallv: bytes per counted unit */
  int in_place; /* allgatherv: this rank's part is in the receive view already */
  int root;    /* bcast: root; allreduce: the MPI_Op index */
  int rc;
  char error[MPI_MAX_ERROR_STRING];
  int rank, size, provided;
  struct Job *next;
} Job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static Job *head = NULL, *tail = NULL;
static pthread_t thread;
static int started = 0, opened = 0, closing = 0;
/* The world's size: written by the MPI thread before it settles open(), read on the JavaScript
 * thread only once open() has settled (`opened`). */
static int world_size = 0, world_rank = 0;
static napi_threadsafe_function settle;
/* Jobs queued and not yet settled (JavaScript thread only): while there are some, the
 * thread-safe function holds the event loop open; with none, an open world does not keep the
 * process alive. */
static int pending = 0;

static void enqueue(Job *job) {
  pthread_mutex_lock(&lock);
  job->next = NULL;
  if (tail) tail->next = job; else head = job;
  tail = job;
  pthread_cond_signal(&wake);
  pthread_mutex_unlock(&lock);
}

static Job *dequeue(void) {
  pthread_mutex_lock(&lock);
  while (!head) pthread_cond_wait(&wake, &lock);
  Job *job = head;
  head = job->next;
  if (!head) tail = NULL;
  pthread_mutex_unlock(&lock);
  return job;
}

static MPI_Op reduction(int index) {
  switch (index) {
    case 0: return MPI_SUM;
    case 1: return MPI_MAX;
    case 2: return MPI_MIN;
    default: return MPI_BOR;
  }
}

/* `bytes` contiguous bytes as one MPI datatype, committed (the caller frees it). */
static int unit_type(int bytes, MPI_Datatype *type) {
  int rc = MPI_Type_contiguous(bytes, MPI_BYTE, type);
  return rc == MPI_SUCCESS ? MPI_Type_commit(type) : rc;
}

static void run(Job *job) {
  MPI_Comm world = MPI_COMM_WORLD;
  switch (job->op) {
    case OP_OPEN:
      job->rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &job->provided);
      if (job->rc == MPI_SUCCESS && job->provided < MPI_THREAD_FUNNELED) {
        snprintf(job->error, sizeof job->error, "this MPI gives thread level %d, below MPI_THREAD_FUNNELED", job->provided);
        job->rc = MPI_ERR_OTHER;
        break;
      }
      if (job->rc == MPI_SUCCESS) job->rc = MPI_Comm_set_errhandler(world, MPI_ERRORS_RETURN);
      if (job->rc == MPI_SUCCESS) job->rc = MPI_Comm_rank(world, &job->rank);
      if (job->rc == MPI_SUCCESS) job->rc = MPI_Comm_size(world, &job->size);
      world_size = job->size;
      world_rank = job->rank;
      break;
    case OP_BARRIER: job->rc = MPI_Barrier(world); break;
    case OP_BCAST: job->rc = MPI_Bcast(job->data[0], job->count, MPI_BYTE, job->root, world); break;
    case OP_ALLGATHERV: {
      int n = world_size;
      MPI_Datatype unit;
      if ((job->rc = unit_type(job->unit, &unit)) != MPI_SUCCESS) break;
      const void *send = job->in_place ? MPI_IN_PLACE : job->data[0];
      job->rc = MPI_Allgatherv(send, job->count, unit, job->data[1], job->counts, job->counts + n, unit, world);
      MPI_Type_free(&unit);
      break;
    }
    case OP_ALLTOALLV: {
      int n = world_size;
      int *c = job->counts;
      MPI_Datatype unit;
      if ((job->rc = unit_type(job->unit, &unit)) != MPI_SUCCESS) break;
      job->rc = MPI_Alltoallv(job->data[0], c, c + n, unit, job->data[1], c + 2 * n, c + 3 * n, unit, world);
      MPI_Type_free(&unit);
      break;
    }
    case OP_ALLREDUCE_INT:
      job->rc = MPI_Allreduce(MPI_IN_PLACE, job->data[0], job->count, MPI_INT64_T, reduction(job->root), world);
      break;
    case OP_CLOSE: job->rc = MPI_Finalize(); break;
  }
}

static void *main_loop(void *unused) {
  (void)unused;
  for (;;) {
    Job *job = dequeue();
    run(job);
    if (job->rc != MPI_SUCCESS) {
      int length = 0;
      if (job->op == OP_OPEN && !job->error[0])
        snprintf(job->error, sizeof job->error, "MPI_Init_thread failed (error %d)", job->rc);
      else if (job->op != OP_OPEN)
        MPI_Error_string(job->rc, job->error, &length); /* here: only this thread calls MPI */
    }
    enum Op op = job->op;
    napi_call_threadsafe_function(settle, job, napi_tsfn_blocking);
    if (op == OP_CLOSE || (op == OP_OPEN && job->rc != MPI_SUCCESS)) break;
  }
  napi_release_threadsafe_function(settle, napi_tsfn_release);
  return NULL;
}

/* On the JavaScript thread: settle the job's promise, drop its references. */
static void settle_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  (void)context;
  Job *job = data;
  if (env) {
    if (--pending == 0 && job->op != OP_CLOSE) napi_unref_threadsafe_function(env, settle);
    if (job->rc != MPI_SUCCESS) {
      napi_value message, error;
      napi_create_string_utf8(env, job->error, NAPI_AUTO_LENGTH, &message);
      napi_create_error(env, NULL, message, &error);
      napi_reject_deferred(env, job->deferred, error);
    } else if (job->op == OP_OPEN) {
      opened = 1;
      napi_value result, v;
      napi_create_object(env, &result);
      napi_create_int32(env, job->rank, &v);
      napi_set_named_property(env, result, "rank", v);
      napi_create_int32(env, job->size, &v);
      napi_set_named_property(env, result, "size", v);
      napi_create_int32(env, job->provided, &v);
      napi_set_named_property(env, result, "threadLevel", v);
      napi_resolve_deferred(env, job->deferred, result);
    } else {
      napi_value undefined;
      napi_get_undefined(env, &undefined);
      napi_resolve_deferred(env, job->deferred, undefined);
    }
    for (int i = 0; i < MAX_VIEWS; i++) if (job->refs[i]) napi_delete_reference(env, job->refs[i]);
  }
  free(job->counts);
  free(job);
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}


/* A typed array's bytes, referenced until the job settles. */
static int view(napi_env env, napi_value value, Job *job, int slot, size_t *bytes) {
  bool is;
  napi_is_typedarray(env, value, &is);
  if (!is) return 0;
  napi_typedarray_type type;
  size_t length, offset;
  napi_value buffer;
  void *data;
  napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, &offset);
  size_t width = type == napi_int8_array || type == napi_uint8_array || type == napi_uint8_clamped_array ? 1
                 : type == napi_int16_array || type == napi_uint16_array                                 ? 2
                 : type == napi_int32_array || type == napi_uint32_array || type == napi_float32_array   ? 4
                                                                                                          : 8;
  job->data[slot] = data;
  *bytes = length * width;
  napi_create_reference(env, value, 1, &job->refs[slot]);
  return 1;
}

/* The `n` values of an Int32Array argument copied into `into`; 0 when it is not one of that length. */
static int ints_into(napi_env env, napi_value value, int n, int *into) {
  napi_typedarray_type type;
  size_t length, offset;
  napi_value buffer;
  void *data;
  bool is;
  napi_is_typedarray(env, value, &is);
  if (!is) return 0;
  napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, &offset);
  if (type != napi_int32_array || length != (size_t)n) return 0;
  memcpy(into, data, (size_t)n * sizeof(int));
  return 1;
}

/* A job that will not run: its views' references dropped, its memory freed. */
static void discard(napi_env env, Job *job) {
  for (int i = 0; i < MAX_VIEWS; i++) if (job->refs[i]) napi_delete_reference(env, job->refs[i]);
  free(job->counts);
  free(job);
}

/* Refuses a call's arguments: nothing queued, nothing kept. */
static napi_value refuse(napi_env env, Job *job, const char *message) {
  discard(env, job);
  return throw_type(env, message);
}

/* Refuses counts that would reach outside a view: nothing queued, nothing kept. */
static napi_value refuse_range(napi_env env, Job *job, const char *message) {
  discard(env, job);
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

/* A view too large for one call's C int count: refused, never truncated (the caller cuts rounds). */
static int too_large(napi_env env, Job *job, size_t bytes, const char *what) {
  if (bytes <= INT32_MAX) return 0;
  char message[160];
  snprintf(message, sizeof message, "%s: %zu bytes, more than one MPI call moves (%d): cut it into rounds", what, bytes,
           INT32_MAX);
  discard(env, job);
  napi_throw_range_error(env, NULL, message);
  return 1;
}

static napi_value submit(napi_env env, Job *job) {
  napi_value promise;
  napi_create_promise(env, &job->deferred, &promise);
  if (pending++ == 0) napi_ref_threadsafe_function(env, settle);
  enqueue(job);
  return promise;
}

static Job *job_of(enum Op op) {
  Job *job = calloc(1, sizeof(Job));
  job->op = op;
  return job;
}

static napi_value open_world(napi_env env, napi_callback_info info) {
  (void)info;
  if (started) return throw_type(env, "MPI is open already in this process");
  napi_value name;
  napi_create_string_utf8(env, "rmsprop-pool MPI", NAPI_AUTO_LENGTH, &name);
  napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, settle_js, &settle);
  Job *job = job_of(OP_OPEN);
  napi_value promise = submit(env, job);
  pthread_create(&thread, NULL, main_loop, NULL);
  started = 1;
  return promise;
}

static int ready(napi_env env) {
  if (!opened || closing) {
    throw_type(env, closing ? "the MPI world is closed" : "the MPI world is not open: await open() first");
    return 0;
  }
  return 1;
}

static napi_value barrier(napi_env env, napi_callback_info info) {
  (void)info;
  if (!ready(env)) return NULL;
  return submit(env, job_of(OP_BARRIER));
}

static napi_value bcast(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!ready(env)) return NULL;
  Job *job = job_of(OP_BCAST);
  size_t bytes;
  if (argc < 2 || !view(env, argv[0], job, 0, &bytes) || napi_get_value_int32(env, argv[1], &job->root) != napi_ok)
    return refuse(env, job, "bcast(view, root): a typed array and a rank");
  if (too_large(env, job, bytes, "bcast")) return NULL;
  job->count = (int)bytes;
  return submit(env, job);
}

/* The optional last argument: bytes per counted unit (default 1), a positive int32. */
static int unit_of(napi_env env, napi_value *argv, size_t argc, size_t at, int *unit) {
  *unit = 1;
  if (argc <= at) return 1;
  napi_valuetype type;
  napi_typeof(env, argv[at], &type);
  if (type == napi_undefined) return 1;
  return napi_get_value_int32(env, argv[at], unit) == napi_ok && *unit > 0;
}

/* Whether parts of `count` units at `displacement` lie inside a view of `bytes` bytes, for each of n ranks. */
static int parts_fit(const int *counts, const int *displacements, int n, int unit, size_t bytes) {
  for (int r = 0; r < n; r++) {
    if (counts[r] < 0 || displacements[r] < 0) return 0;
    if (((int64_t)displacements[r] + counts[r]) * unit > (int64_t)bytes) return 0;
  }
  return 1;
}

static napi_value allgatherv(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!ready(env)) return NULL;
  int n = world_size;
  Job *job = job_of(OP_ALLGATHERV);
  job->counts = malloc(2 * (size_t)n * sizeof(int)); /* receive counts, then displacements */
  size_t sent = 0, received;
  napi_valuetype send_type = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &send_type);
  job->in_place = send_type == napi_null;
  if (argc < 4 || !(job->in_place || view(env, argv[0], job, 0, &sent)) || !view(env, argv[1], job, 1, &received) ||
      !ints_into(env, argv[2], n, job->counts) || !ints_into(env, argv[3], n, job->counts + n) ||
      !unit_of(env, argv, argc, 4, &job->unit))
    return refuse(env, job,
                  "allgatherv(send or null, receive, counts, displacements, unit?): typed arrays (null: in place), "
                  "Int32Arrays of units per rank, and the bytes of a unit");
  if (!parts_fit(job->counts, job->counts + n, n, job->unit, received))
    return refuse_range(env, job, "allgatherv: a rank's part lies outside the receive view");
  if (!job->in_place && sent != (size_t)job->counts[world_rank] * (size_t)job->unit)
    return refuse_range(env, job, "allgatherv: the send view is not this rank's count of units");
  job->count = job->counts[world_rank];
  return submit(env, job);
}

static napi_value alltoallv(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!ready(env)) return NULL;
  int n = world_size;
  Job *job = job_of(OP_ALLTOALLV);
  job->counts = malloc(4 * (size_t)n * sizeof(int)); /* send counts, displacements, receive counts, displacements */
  size_t sent, received;
  int ok = argc >= 6 && view(env, argv[0], job, 0, &sent) && view(env, argv[3], job, 1, &received);
  const int at[4] = {1, 2, 4, 5};
  for (int i = 0; ok && i < 4; i++) ok = ints_into(env, argv[at[i]], n, job->counts + i * n);
  if (!ok || !unit_of(env, argv, argc, 6, &job->unit))
    return refuse(env, job, "alltoallv(send, sendCounts, sendDisplacements, receive, receiveCounts, "
                            "receiveDisplacements, unit?): typed arrays, Int32Arrays of units per rank, and the bytes of a unit");
  int *c = job->counts;
  if (!parts_fit(c, c + n, n, job->unit, sent) || !parts_fit(c + 2 * n, c + 3 * n, n, job->unit, received))
    return refuse_range(env, job, "alltoallv: a rank's part lies outside its view");
  return submit(env, job);
}

static napi_value allreduce_int(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!ready(env)) return NULL;
  Job *job = job_of(OP_ALLREDUCE_INT);
  size_t bytes;
  napi_typedarray_type type = napi_int8_array;
  bool is = false;
  if (argc == 2) napi_is_typedarray(env, argv[0], &is);
  if (is) {
    size_t length, offset;
    napi_value buffer;
    void *data;
    napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset);
  }
  if (!is || type != napi_bigint64_array || !view(env, argv[0], job, 0, &bytes) ||
      napi_get_value_int32(env, argv[1], &job->root) != napi_ok)
    return refuse(env, job, "allreduceInt(values, op): a BigInt64Array, reduced in place, and an operation index");
  if (too_large(env, job, bytes, "allreduceInt")) return NULL;
  job->count = (int)(bytes / 8);
  return submit(env, job);
}

static napi_value close_world(napi_env env, napi_callback_info info) {
  (void)info;
  if (!ready(env)) return NULL;
  closing = 1;
  return submit(env, job_of(OP_CLOSE));
}

NAPI_MODULE_INIT() {
  const struct { const char *name; napi_callback fn; } entries[] = {
    {"open", open_world},         {"barrier", barrier},           {"bcast", bcast},
    {"allgatherv", allgatherv},   {"alltoallv", alltoallv},       {"allreduceInt", allreduce_int},
    {"close", close_world},
  };
  for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
    napi_value fn;
    napi_create_function(env, entries[i].name, NAPI_AUTO_LENGTH, entries[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, entries[i].name, fn);
  }
  return exports;
}
