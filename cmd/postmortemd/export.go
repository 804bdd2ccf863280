package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// runExport is `postmortemd export --dir DIR [flags]`: it writes every postmortem of the configured
// store (--postmortems-store, with the same Redis and drafts-dir settings as the service), and every
// version kept beside one, into DIR once, under their file names. It returns the exit code: 0
// done, 1 an error (what could be written is written), 2 a usage error.
func runExport(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	dir, rest, err := exportDir(args)
	if err != nil {
		fmt.Fprintf(stderr, "postmortemd export: %v\nUsage: postmortemd export --dir DIR [postmortemd flags: --postmortems-store, --redis-url, --config, ...]\n", err)
		return 2
	}
	cfg, err := loadConfig(rest, getenv, stdout)
	switch {
	case errors.Is(err, errHelp), errors.Is(err, errVersion):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "postmortemd export: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	if cfg.PostmortemsStore == "redis" && cfg.embedded() {
		fmt.Fprintln(stderr, "postmortemd export: --postmortems-store redis needs the service's Redis: set --redis-url or the config file's redis block")
		return 2
	}
	rdb, closeRedis, err := openRedis(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "postmortemd export: %v\n", err)
		return 1
	}
	defer closeRedis()
	store := redisstore.New(rdb, redisstore.Options{Prefix: cfg.KeyPrefix, ReadCacheBytes: -1})
	cfg.draftsDirGiven = false // export reads; it never runs the mirror
	var pm drafts.Postmortems
	if cfg.PostmortemsStore == "redis" {
		pm = &drafts.SharedStore{Records: store, Timeout: max(cfg.StoreTimeout, 30*time.Second), Logger: log}
	} else {
		pm = &drafts.Store{Dir: cfg.DraftsDir, Logger: slog.New(slog.DiscardHandler)}
	}
	docs, beside, err := drafts.Export(pm, dir)
	fmt.Fprintf(stdout, "exported %d postmortems and %d versions kept beside them to %s\n", docs, beside, dir)
	if err != nil {
		fmt.Fprintf(stderr, "postmortemd export: %v\n", err)
		return 1
	}
	return 0
}

// exportDir takes --dir DIR (or --dir=DIR) out of args.
func exportDir(args []string) (dir string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--dir" || a == "-dir":
			if i+1 >= len(args) {
				return "", nil, errors.New("--dir needs a directory")
			}
			dir = args[i+1]
			i++
		case strings.HasPrefix(a, "--dir=") || strings.HasPrefix(a, "-dir="):
			dir = a[strings.Index(a, "=")+1:]
		default:
			rest = append(rest, a)
		}
	}
	if dir == "" {
		return "", nil, errors.New("--dir is required")
	}
	return dir, rest, nil
}
