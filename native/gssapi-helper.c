/*
 * xmppctl's GSS-API acceptor helper, for SASL GSSAPI (RFC 4752) in the
 * bundled server. The npm kerberos binding's acceptor has no gss_wrap or
 * gss_unwrap, which RFC 4752 §3.1's security-layer exchange needs; this
 * program only calls MIT's GSS-API (gss_acquire_cred, gss_accept_sec_context,
 * gss_display_name, gss_wrap, gss_unwrap): nothing of Kerberos is done here.
 *
 * Usage: gssapi-helper PRINCIPAL   (the keytab comes from KRB5_KTNAME)
 * One process serves every authentication of a host; contexts are kept by an
 * id the caller chooses, and dropped after IDLE_SECONDS without a request.
 *
 * Protocol on stdin/stdout, until stdin closes:
 *   request: op (1 byte), context id (4 bytes BE), length (4 bytes BE), data
 *     'C' acquire the acceptor credential now (data ignored)
 *     'A' gss_accept_sec_context with the client's token
 *     'W' gss_wrap (integrity only, conf_req_flag 0) of data
 *     'U' gss_unwrap of a token
 *     'D' delete the context
 *   reply: context id (4 bytes BE), status (1 byte), length (4 bytes BE), data
 *     status 'O' done:      'A': a 4-byte BE token length, the output token,
 *                           then the client's principal (gss_display_name);
 *                           'C': the credential's name; 'W'/'U': the bytes
 *     status 'N' continue:  'A' only, the output token to send back
 *     status 'E' failure:   "CLASS MAJOR MINOR message" where CLASS is one of
 *                           replay, expired, keytab, malformed, busy, other
 *                           (from the routine error; the message says more)
 * Nothing but replies is written on stdout; tokens never reach stderr.
 */
#include <errno.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DATA (1024 * 1024)
#define MAX_CONTEXTS 4096
#define IDLE_SECONDS 120

struct context {
  uint32_t id;
  gss_ctx_id_t handle;
  time_t used;
};

static struct context contexts[MAX_CONTEXTS];
static size_t context_count = 0;
static const char *principal = NULL;
static gss_cred_id_t credential = GSS_C_NO_CREDENTIAL;

static int read_exact(unsigned char *buffer, size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t got = read(STDIN_FILENO, buffer + done, length - done);
    if (got == 0) return done == 0 ? 0 : -1;
    if (got < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += (size_t)got;
  }
  return 1;
}

static int write_all(const unsigned char *data, size_t length) {
  while (length > 0) {
    ssize_t written = write(STDOUT_FILENO, data, length);
    if (written < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    data += written;
    length -= (size_t)written;
  }
  return 0;
}

static void put32(unsigned char *out, uint32_t value) {
  out[0] = (unsigned char)(value >> 24);
  out[1] = (unsigned char)(value >> 16);
  out[2] = (unsigned char)(value >> 8);
  out[3] = (unsigned char)value;
}

static uint32_t get32(const unsigned char *in) {
  return ((uint32_t)in[0] << 24) | ((uint32_t)in[1] << 16) | ((uint32_t)in[2] << 8) | (uint32_t)in[3];
}

/* One reply: id, status, then the concatenation of up to two parts. */
static int reply(uint32_t id, char status, const void *first, size_t first_length, const void *second, size_t second_length) {
  unsigned char header[9];
  put32(header, id);
  header[4] = (unsigned char)status;
  put32(header + 5, (uint32_t)(first_length + second_length));
  if (write_all(header, sizeof header) != 0) return -1;
  if (first_length > 0 && write_all(first, first_length) != 0) return -1;
  if (second_length > 0 && write_all(second, second_length) != 0) return -1;
  return 0;
}

/*
 * A first classification from the routine error alone: the mechanism's minor
 * codes come back renumbered by the mechglue layer, so the caller refines it
 * from the mechanism's message (src/auth/gssapi/helper.ts).
 */
static const char *failure_class(OM_uint32 major) {
  switch (GSS_ROUTINE_ERROR(major)) {
    case GSS_S_DUPLICATE_TOKEN: return "replay";
    case GSS_S_CREDENTIALS_EXPIRED:
    case GSS_S_CONTEXT_EXPIRED: return "expired";
    case GSS_S_NO_CRED: return "keytab";
    case GSS_S_DEFECTIVE_TOKEN:
    case GSS_S_BAD_MECH: return "malformed";
    default: return "other";
  }
}

/* Appends GSS-API's text for one kind of status code to buffer. */
static void append_status(char *buffer, size_t size, OM_uint32 code, int type) {
  OM_uint32 minor, context = 0;
  do {
    gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
    if (GSS_ERROR(gss_display_status(&minor, code, type, GSS_C_NO_OID, &context, &text))) break;
    size_t used = strlen(buffer);
    snprintf(buffer + used, size - used, "%s%.*s", used > 0 && buffer[used - 1] != ' ' ? "; " : "", (int)text.length, (const char *)text.value);
    gss_release_buffer(&minor, &text);
  } while (context != 0);
}

static int reply_failure(uint32_t id, OM_uint32 major, OM_uint32 minor) {
  char text[2048];
  snprintf(text, sizeof text, "%s %u %d ", failure_class(major), (unsigned)major, (int)(int32_t)minor);
  append_status(text, sizeof text, major, GSS_C_GSS_CODE);
  if (minor != 0) append_status(text, sizeof text, minor, GSS_C_MECH_CODE);
  return reply(id, 'E', text, strlen(text), NULL, 0);
}

static int reply_text(uint32_t id, char status, const char *text) {
  return reply(id, status, text, strlen(text), NULL, 0);
}

static struct context *find_context(uint32_t id) {
  for (size_t index = 0; index < context_count; index++) {
    if (contexts[index].id == id) return &contexts[index];
  }
  return NULL;
}

static void drop_context(struct context *entry) {
  OM_uint32 minor;
  if (entry->handle != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &entry->handle, GSS_C_NO_BUFFER);
  *entry = contexts[--context_count];
}

/* Contexts whose exchange was abandoned (the client went away) are dropped here. */
static void expire_contexts(time_t now) {
  for (size_t index = 0; index < context_count;) {
    if (now - contexts[index].used > IDLE_SECONDS) drop_context(&contexts[index]);
    else index++;
  }
}

static OM_uint32 acquire(OM_uint32 *minor) {
  OM_uint32 major, ignored;
  gss_buffer_desc text = {strlen(principal), (void *)principal};
  gss_name_t name = GSS_C_NO_NAME;
  if (credential != GSS_C_NO_CREDENTIAL) gss_release_cred(&ignored, &credential);
  /* The full principal (service/host@REALM), not a host-based name that the library would canonicalise. */
  major = gss_import_name(minor, &text, (gss_OID)GSS_KRB5_NT_PRINCIPAL_NAME, &name);
  if (GSS_ERROR(major)) return major;
  major = gss_acquire_cred(minor, name, GSS_C_INDEFINITE, GSS_C_NO_OID_SET, GSS_C_ACCEPT, &credential, NULL, NULL);
  gss_release_name(&ignored, &name);
  return major;
}

static int check(uint32_t id) {
  OM_uint32 minor = 0, major = acquire(&minor);
  if (GSS_ERROR(major)) return reply_failure(id, major, minor);
  return reply_text(id, 'O', principal);
}

static int accept_token(uint32_t id, unsigned char *data, size_t length, time_t now) {
  OM_uint32 major, minor = 0, ignored;
  if (credential == GSS_C_NO_CREDENTIAL) {
    major = acquire(&minor);
    if (GSS_ERROR(major)) return reply_failure(id, major, minor);
  }
  struct context *entry = find_context(id);
  if (entry == NULL) {
    if (context_count == MAX_CONTEXTS) return reply_text(id, 'E', "busy 0 0 too many authentications in progress");
    entry = &contexts[context_count++];
    entry->id = id;
    entry->handle = GSS_C_NO_CONTEXT;
  }
  entry->used = now;
  gss_buffer_desc input = {length, data};
  gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
  gss_name_t client = GSS_C_NO_NAME;
  major = gss_accept_sec_context(&minor, &entry->handle, credential, &input, GSS_C_NO_CHANNEL_BINDINGS, &client, NULL, &output, NULL, NULL, NULL);
  int status;
  if (GSS_ERROR(major)) {
    status = reply_failure(id, major, minor);
    drop_context(entry);
  } else if (major & GSS_S_CONTINUE_NEEDED) {
    status = reply(id, 'N', output.value, output.length, NULL, 0);
  } else {
    gss_buffer_desc name = GSS_C_EMPTY_BUFFER;
    major = gss_display_name(&minor, client, &name, NULL);
    if (GSS_ERROR(major)) {
      status = reply_failure(id, major, minor);
      drop_context(entry);
    } else {
      unsigned char prefix[4];
      put32(prefix, (uint32_t)output.length);
      unsigned char *joined = malloc(4 + output.length);
      if (joined == NULL) return -1;
      memcpy(joined, prefix, 4);
      if (output.length > 0) memcpy(joined + 4, output.value, output.length);
      status = reply(id, 'O', joined, 4 + output.length, name.value, name.length);
      free(joined);
      gss_release_buffer(&ignored, &name);
    }
  }
  gss_release_buffer(&ignored, &output);
  if (client != GSS_C_NO_NAME) gss_release_name(&ignored, &client);
  return status;
}

static int wrap_or_unwrap(uint32_t id, char op, unsigned char *data, size_t length, time_t now) {
  struct context *entry = find_context(id);
  if (entry == NULL || entry->handle == GSS_C_NO_CONTEXT) return reply_text(id, 'E', "other 0 0 no such security context");
  entry->used = now;
  OM_uint32 major, minor = 0, ignored;
  gss_buffer_desc input = {length, data};
  gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
  /* RFC 4752 §3.1: the security-layer messages are wrapped with conf_flag FALSE. */
  if (op == 'W') major = gss_wrap(&minor, entry->handle, 0, GSS_C_QOP_DEFAULT, &input, NULL, &output);
  else major = gss_unwrap(&minor, entry->handle, &input, &output, NULL, NULL);
  int status = GSS_ERROR(major) ? reply_failure(id, major, minor) : reply(id, 'O', output.value, output.length, NULL, 0);
  gss_release_buffer(&ignored, &output);
  return status;
}

int main(int argc, char **argv) {
  if (argc != 2 || argv[1][0] == '\0') {
    fprintf(stderr, "usage: gssapi-helper SERVICE/HOST@REALM (keytab in KRB5_KTNAME)\n");
    return 2;
  }
  principal = argv[1];
  for (;;) {
    unsigned char header[9];
    int got = read_exact(header, sizeof header);
    if (got == 0) return 0; /* stdin closed: done */
    if (got < 0) {
      fprintf(stderr, "gssapi-helper: broken pipe\n");
      return 2;
    }
    char op = (char)header[0];
    uint32_t id = get32(header + 1);
    uint32_t length = get32(header + 5);
    if (length > MAX_DATA) {
      fprintf(stderr, "gssapi-helper: a request of %u bytes is over the limit\n", (unsigned)length);
      return 2;
    }
    unsigned char *data = malloc(length > 0 ? length : 1);
    if (data == NULL) return 2;
    if (length > 0 && read_exact(data, length) != 1) {
      free(data);
      fprintf(stderr, "gssapi-helper: truncated request\n");
      return 2;
    }
    time_t now = time(NULL);
    expire_contexts(now);
    int status;
    switch (op) {
      case 'C': status = check(id); break;
      case 'A': status = accept_token(id, data, length, now); break;
      case 'W':
      case 'U': status = wrap_or_unwrap(id, op, data, length, now); break;
      case 'D': {
        struct context *entry = find_context(id);
        if (entry != NULL) drop_context(entry);
        status = reply(id, 'O', NULL, 0, NULL, 0);
        break;
      }
      default: status = reply_text(id, 'E', "other 0 0 unknown request"); break;
    }
    free(data);
    if (status != 0) {
      fprintf(stderr, "gssapi-helper: cannot write a reply\n");
      return 2;
    }
  }
}
