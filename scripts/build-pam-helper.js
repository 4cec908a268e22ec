#!/usr/bin/env node
// Builds dist/native/pam-helper from native/pam-helper.c (`cc … -lpam`), the
// program the pam backend runs (like ejabberd's epam), and
// dist/native/gssapi-helper from native/gssapi-helper.c (`cc … -lgssapi_krb5`),
// the GSS-API acceptor behind SASL GSSAPI. Each is skipped, with advice, when
// its compiler or headers are missing (scripts/native-helper.js).
import {buildHelper} from './native-helper.js'

buildHelper({
  name: 'pam-helper',
  header: 'security/pam_appl.h',
  includeEnv: 'PAM_INCLUDE_DIR',
  libraries: ['-lpam'],
  hint: 'the pam auth backend will be unavailable; install a C compiler and libpam0g-dev (Debian/Ubuntu) or pam-devel (Fedora)',
})

buildHelper({
  name: 'gssapi-helper',
  header: 'gssapi/gssapi_krb5.h',
  includeEnv: 'GSSAPI_INCLUDE_DIR',
  libraries: ['-lgssapi_krb5'],
  hint: 'the gssapi auth backend (SASL GSSAPI) will be unavailable; install a C compiler and libkrb5-dev (Debian/Ubuntu) or krb5-devel (Fedora)',
})
