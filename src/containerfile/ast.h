/* The Containerfile syntax tree, as BuildKit's parser builds it.
 *
 * One cf_instr per instruction, in file order.  The tree keeps what was written (keyword case aside):
 * flags as "--name=value" strings, arguments as the parser split them.  Meaning (stages, scopes,
 * typed flags) is the semantic pass's job, in stages.h.  */
#ifndef GSI_CF_AST_H
#define GSI_CF_AST_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/strvec.h"

typedef struct cf_heredoc
{
  char *name;    /* the delimiter word, quotes removed */
  char *content; /* the body, each line ending in '\n'; with <<- leading tabs already stripped */
  size_t content_len; /* bytes in content (a body may hold NUL bytes) */
  bool expand;   /* false when the delimiter was quoted: the body is taken literally */
  bool chomp;    /* written <<- */
} cf_heredoc;

typedef struct cf_instr cf_instr;
struct cf_instr
{
  char *keyword;      /* lower case: "from", "run", ... */
  char *original;     /* the instruction as written, continuation lines joined */
  gsi_strvec flags;   /* "--from=build", in order, as written */
  gsi_strvec args;    /* arguments in BuildKit's split; ENV/LABEL as (key, value, sep) triples */
  size_t *flag_len;   /* byte length of each flags.v[i], NULL when flags is empty */
  size_t *arg_len;    /* byte length of each args.v[i] (a JSON "\u0000" or a NUL in the file makes
                       * an argument longer than strlen says), NULL when args is empty */
  bool json;          /* exec (JSON array) form */
  cf_instr *sub;      /* ONBUILD's trigger instruction, else NULL */
  cf_heredoc *heredocs;  /* RUN, COPY, ADD bodies in order; ONBUILD keeps its trigger's here, as BuildKit */
  size_t nheredocs;
  int start_line;     /* 1-based, first line of the instruction */
  int end_line;       /* last line, heredoc bodies included */
  int col;            /* 1-based column of the keyword */
};

typedef struct cf_file
{
  char *path;         /* as given, for messages */
  cf_instr *instrs;
  size_t n;
  char escape;        /* '\\' unless an escape directive said '`' */
  char *syntax;       /* value of the syntax directive, or NULL */
  char *check;        /* value of the check directive, or NULL */
  gsi_strvec warnings;/* "FILE:LINE:COL: warning: ..." lines for things BuildKit warns about (empty continuation lines) */
} cf_file;

/* Parses data (len bytes, need not be NUL-terminated) read from path.  On a syntax error returns -1
 * with a located error "PATH:LINE:COL: cause".  An empty file or one with only comments is an error,
 * as in BuildKit.  */
int cf_parse (const char *path, const char *data, size_t len, cf_file **out, gsi_error *err);
int cf_parse_file (const char *path, cf_file **out, gsi_error *err);
void cf_file_free (cf_file *f);

/* Appends the tree in the dump format of BuildKit's parser test data: one line per instruction,
 * each ending in '\n'.  */
void cf_dump (const cf_file *f, gsi_buf *out);
/* Appends s quoted as Go's strconv.Quote does (the dump format's quoting).  */
void cf_go_quote (gsi_buf *out, const char *s, size_t len);

#endif
