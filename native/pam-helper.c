/*
 * xmppctl's PAM helper (like ejabberd's epam): a long-running process that
 * authenticates users with PAM for the pam backend, so that PAM's blocking
 * calls (and modules' failure delays) never block Node's event loop.
 *
 * Protocol on stdin/stdout, one request at a time, until stdin closes:
 *   request: four fields — "auth", service, user, password — each a 2-byte
 *            big-endian byte length followed by the bytes;
 *   reply:   a 2-byte big-endian length and the text
 *            "OK" or "FAIL <stage> <code> <PAM_NAME> <pam_strerror text>",
 *            stage being start, authenticate or acct_mgmt.
 * Nothing is ever written on stdout but replies; diagnostics go to stderr.
 */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

#define MAX_FIELD 65535

struct credentials {
  const char *user;
  const char *password;
};

static int read_exact(unsigned char *buffer, size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t got = read(STDIN_FILENO, buffer + done, length - done);
    if (got == 0) return 0;
    if (got < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += (size_t)got;
  }
  return 1;
}

/* Reads one length-prefixed field into a NUL-terminated heap string; 0 at EOF, -1 on error. */
static int read_field(char **out) {
  unsigned char header[2];
  int status = read_exact(header, 2);
  if (status <= 0) return status;
  size_t length = ((size_t)header[0] << 8) | header[1];
  char *field = malloc(length + 1);
  if (field == NULL) return -1;
  if (length > 0 && read_exact((unsigned char *)field, length) != 1) {
    free(field);
    return -1;
  }
  field[length] = '\0';
  if (strlen(field) != length) { /* an embedded NUL cannot reach PAM intact */
    free(field);
    return -1;
  }
  *out = field;
  return 1;
}

static int write_all(const char *data, size_t length) {
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

static int reply(const char *text) {
  size_t length = strlen(text);
  if (length > MAX_FIELD) length = MAX_FIELD;
  unsigned char header[2] = {(unsigned char)(length >> 8), (unsigned char)(length & 0xff)};
  if (write_all((const char *)header, 2) != 0) return -1;
  return write_all(text, length);
}

static const char *code_name(int code) {
  switch (code) {
    case PAM_SUCCESS: return "PAM_SUCCESS";
    case PAM_OPEN_ERR: return "PAM_OPEN_ERR";
    case PAM_SYMBOL_ERR: return "PAM_SYMBOL_ERR";
    case PAM_SERVICE_ERR: return "PAM_SERVICE_ERR";
    case PAM_SYSTEM_ERR: return "PAM_SYSTEM_ERR";
    case PAM_BUF_ERR: return "PAM_BUF_ERR";
    case PAM_PERM_DENIED: return "PAM_PERM_DENIED";
    case PAM_AUTH_ERR: return "PAM_AUTH_ERR";
    case PAM_CRED_INSUFFICIENT: return "PAM_CRED_INSUFFICIENT";
    case PAM_AUTHINFO_UNAVAIL: return "PAM_AUTHINFO_UNAVAIL";
    case PAM_USER_UNKNOWN: return "PAM_USER_UNKNOWN";
    case PAM_MAXTRIES: return "PAM_MAXTRIES";
    case PAM_NEW_AUTHTOK_REQD: return "PAM_NEW_AUTHTOK_REQD";
    case PAM_ACCT_EXPIRED: return "PAM_ACCT_EXPIRED";
    case PAM_CONV_ERR: return "PAM_CONV_ERR";
    case PAM_ABORT: return "PAM_ABORT";
    case PAM_IGNORE: return "PAM_IGNORE";
    case PAM_MODULE_UNKNOWN: return "PAM_MODULE_UNKNOWN";
    default: return "PAM_OTHER";
  }
}

/* Answers password prompts with the password, name prompts with the user; ignores info and errors. */
static int converse(int count, const struct pam_message **messages, struct pam_response **responses, void *data) {
  const struct credentials *credentials = data;
  if (count <= 0 || count > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
  struct pam_response *answers = calloc((size_t)count, sizeof *answers);
  if (answers == NULL) return PAM_BUF_ERR;
  for (int index = 0; index < count; index++) {
    const char *answer = NULL;
    switch (messages[index]->msg_style) {
      case PAM_PROMPT_ECHO_OFF: answer = credentials->password; break;
      case PAM_PROMPT_ECHO_ON: answer = credentials->user; break;
      case PAM_ERROR_MSG:
      case PAM_TEXT_INFO:
        fprintf(stderr, "pam: %s\n", messages[index]->msg ? messages[index]->msg : "");
        break;
      default:
        for (int done = 0; done < index; done++) free(answers[done].resp);
        free(answers);
        return PAM_CONV_ERR;
    }
    if (answer != NULL) {
      answers[index].resp = strdup(answer);
      if (answers[index].resp == NULL) {
        for (int done = 0; done < index; done++) free(answers[done].resp);
        free(answers);
        return PAM_BUF_ERR;
      }
    }
  }
  *responses = answers;
  return PAM_SUCCESS;
}

static int authenticate(const char *service, const char *user, const char *password) {
  struct credentials credentials = {user, password};
  struct pam_conv conversation = {converse, &credentials};
  pam_handle_t *handle = NULL;
  char text[1024];
  int status = pam_start(service, user, &conversation, &handle);
  if (status != PAM_SUCCESS) {
    snprintf(text, sizeof text, "FAIL start %d %s %s", status, code_name(status), pam_strerror(handle, status));
    if (handle != NULL) pam_end(handle, status);
    return reply(text);
  }
  const char *stage = "authenticate";
  status = pam_authenticate(handle, PAM_DISALLOW_NULL_AUTHTOK);
  if (status == PAM_SUCCESS) {
    stage = "acct_mgmt";
    status = pam_acct_mgmt(handle, PAM_DISALLOW_NULL_AUTHTOK);
  }
  if (status == PAM_SUCCESS) snprintf(text, sizeof text, "OK");
  else snprintf(text, sizeof text, "FAIL %s %d %s %s", stage, status, code_name(status), pam_strerror(handle, status));
  pam_end(handle, status);
  return reply(text);
}

int main(void) {
  for (;;) {
    char *fields[4] = {NULL, NULL, NULL, NULL};
    int status = 1;
    for (int index = 0; index < 4 && status == 1; index++) status = read_field(&fields[index]);
    if (status == 1) {
      if (strcmp(fields[0], "auth") == 0) {
        status = authenticate(fields[1], fields[2], fields[3]) == 0 ? 1 : -1;
      } else {
        status = reply("FAIL request 0 PAM_OTHER unknown request") == 0 ? 1 : -1;
      }
    }
    for (int index = 0; index < 4; index++) {
      if (fields[index] != NULL) {
        memset(fields[index], 0, strlen(fields[index]));
        free(fields[index]);
      }
    }
    if (status == 0) return 0; /* stdin closed: done */
    if (status < 0) {
      fprintf(stderr, "pam-helper: malformed request or broken pipe\n");
      return 2;
    }
  }
}
